"""`DreamBot`: the discord.py bot, its dependencies passed in; `setup_hook` opens the store and
builds the dreams service before any cog loads, then loads the cogs and syncs the commands;
`close` is graceful."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import discord
from discord import app_commands
from discord.ext import commands

from bot.cooldowns import Cooldowns
from bot.dreams import Dreams
from bot.jobs import JobBackend, Resumable
from bot.jobs.backends import backend_from_settings
from bot.settings import Settings
from bot.storage import Store
from bot.sync import sync_commands

__all__ = ["EXTENSIONS", "PERMISSIONS", "DreamBot", "account_install_url", "invite_url"]

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.cogs.errors",
    "bot.cogs.results",
    "bot.cogs.dream",
    "bot.cogs.layers",
    "bot.cogs.admin",
    "bot.cogs.queue_info",
    "bot.cogs.zoom",
)

# what the bot needs in a channel: post answers with pictures (and the channel fallback)
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    attach_files=True,
    embed_links=True,
    read_message_history=True,
)

# after the job queue closed, how long members' answers may take to be edited
_REPLY_DRAIN_S = 15.0


def invite_url(application_id: int) -> str:
    """The link that adds the bot to a server with the scopes and permissions it needs."""
    return discord.utils.oauth_url(
        application_id, permissions=PERMISSIONS, scopes=("bot", "applications.commands")
    )


def account_install_url(application_id: int) -> str:
    """The link that installs the app to a member's own account (usable in any server, DM and
    group DM); the app's Installation page must allow "User Install"."""
    # discord.py's oauth_url has no integration_type (1: a user install)
    url = discord.utils.oauth_url(application_id, scopes=("applications.commands",))
    return f"{url}&integration_type=1"


class DreamBot(commands.Bot):
    """The DeepDream bot. ``jobs`` runs the dreams (default: as ``DREAM_BACKEND`` says)."""

    # runs every dream for members, with the dreams' store; built in setup_hook, before the cogs
    dreams: Dreams

    def __init__(
        self,
        *,
        settings: Settings,
        jobs: JobBackend | None = None,
        extensions: Sequence[str] = EXTENSIONS,
    ) -> None:
        # the bot never joins voice: spare the log discord.py's missing-voice-library warnings
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
            # every command, unless it says otherwise: installed to a server or to a member's
            # account, and used in servers, in the DM with the bot and in group DMs
            allowed_installs=app_commands.AppInstallationType(guild=True, user=True),
            allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=True, private_channel=True
            ),
        )
        self.settings = settings
        self.jobs: JobBackend = jobs if jobs is not None else backend_from_settings(settings)
        self.cooldowns = Cooldowns(settings.dream_cooldown_s)
        self._extensions = tuple(extensions)
        self._inflight: set[asyncio.Task[object]] = set()
        self._shutdown: asyncio.Future[None] | None = None
        self._store: Store | None = None

    async def setup_hook(self) -> None:
        await self.open_dreams()
        await self.jobs.start()
        for extension in self._extensions:
            await self.load_extension(extension)
        await self.sync_commands()

    async def open_dreams(self) -> None:
        """Open the store and build the dreams service the cogs are handed. A `StorageError`
        (a data folder of a newer bot, an unreadable file) stops the start with its reason."""
        self._store = await Store.open(self.settings.dream_data_dir)
        self.dreams = Dreams(self, self._store)
        if isinstance(self.jobs, Resumable):  # jobs a stopped bot process left are answered here
            self.jobs.on_resumed = self.dreams.take_over

    async def sync_commands(self) -> bool:
        """Sync the commands (to the dev guild only, if set) when their definition changed."""
        guild = None
        if self.settings.dream_dev_guild is not None:
            guild = discord.Object(self.settings.dream_dev_guild)
            self.tree.copy_global_to(guild=guild)
        try:
            return await sync_commands(
                self.tree,
                application_id=self.application_id,
                data_dir=self.settings.dream_data_dir,
                guild=guild,
            )
        except discord.Forbidden as error:
            log.error(
                "Discord refused the command sync to guild %s (%s): is the bot in that server, "
                "invited with the applications.commands scope?",
                self.settings.dream_dev_guild,
                error,
            )
        except discord.HTTPException as error:
            log.error("Could not sync the commands: %s", error)
        return False

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info(
            "Logged in as %s (id %s), in %d servers", self.user, self.user.id, len(self.guilds)
        )
        if self.application_id is not None:
            log.info("Invite me to a server with %s", invite_url(self.application_id))
            log.info("Install me to your account with %s", account_install_url(self.application_id))
        log.info("Models offered: %s", ", ".join(self.settings.dream_models))
        log.info("Dreams run on: %s", await self.jobs.describe())

    def track_current_task(self) -> None:
        """Count the calling task as an answer in flight: `close` waits for it to end."""
        task = asyncio.current_task()
        if task is not None and task not in self._inflight:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def close(self) -> None:
        """Stop taking work, let the running dream finish (bounded), tell queued members, close."""
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._drain())
        await asyncio.shield(self._shutdown)
        await super().close()

    async def _drain(self) -> None:
        log.info("Shutting down")
        await self.jobs.close(timeout=self.settings.dream_shutdown_timeout_s)
        answers = self._inflight - {asyncio.current_task()}
        if answers:
            _, late = await asyncio.wait(answers, timeout=_REPLY_DRAIN_S)
            if late:
                log.warning("%d answers were still being sent at shutdown", len(late))
        if self._store is not None:
            await self._store.close()
