"""One member's answer to one interaction: the deferred message while the interaction token
lives (15 minutes), a message in the channel mentioning the member after that, or, where the
bot's own token cannot post in that channel (a user install in someone else's server, a group
DM), a direct message to the member."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import discord

__all__ = ["MESSAGE_LIMIT", "TOKEN_LIFETIME", "Reply", "reaches_channel"]

log = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(minutes=15)
MESSAGE_LIMIT = 2000  # characters in one Discord message
_DEFERRED = discord.InteractionResponseType.deferred_channel_message
# stop trusting the token a little early: an edit can take a few seconds to land
_MARGIN = timedelta(seconds=10)


def _fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _token_rejected(error: discord.HTTPException) -> bool:
    # 404 Unknown Webhook / Unknown Message, or 401 Invalid Webhook Token: the token has expired
    return error.status in (401, 404)


def reaches_channel(interaction: discord.Interaction) -> bool:
    """Whether the bot's own token may post in the interaction's channel: in a server that
    installed the bot, and in the DM with the bot. Elsewhere (the app installed to a member's
    account, used in another server or a group DM) only the interaction's webhook answers, and
    Discord refuses the bot's token there (403, 50001 Missing Access)."""
    if interaction.guild_id is not None:
        # an interaction that names no installation at all predates account installs: the
        # server's own install
        return interaction.is_guild_integration() or not interaction.is_user_integration()
    return interaction.context.dm_channel


class Reply:
    """Edits an interaction's original response, or posts in its channel once the token expired."""

    def __init__(
        self, interaction: discord.Interaction, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interaction = interaction
        self._clock = clock
        age = discord.utils.utcnow() - interaction.created_at
        age = min(max(age, timedelta(0)), TOKEN_LIFETIME)
        self._deadline = clock() + (TOKEN_LIFETIME - _MARGIN - age).total_seconds()
        self._token_dead = False
        # a line shown under every passing state (where the answer will go, if not here)
        self.notice: str | None = None

    @property
    def expired(self) -> bool:
        return self._token_dead or self._clock() >= self._deadline

    @property
    def seconds_left(self) -> float:
        """How long the deferred message can still be edited (0 once the token expired)."""
        return 0.0 if self._token_dead else max(0.0, self._deadline - self._clock())

    @property
    def to_channel(self) -> bool:
        """Whether answers past the token go to the channel (else to the member's DMs)."""
        return self.interaction.channel_id is not None and reaches_channel(self.interaction)

    async def update(self, content: str) -> None:
        """Show a passing state (queue position, progress); skipped once the token expired."""
        if self.expired:
            return
        if self.notice:
            content = f"{content}\n{self.notice}"
        try:
            await self.interaction.edit_original_response(content=_fit(content))
        except discord.HTTPException as error:
            if _token_rejected(error):
                self._token_dead = True
            else:
                log.warning("Could not update the progress message: %s", error)

    async def finish(
        self,
        content: str | discord.ui.LayoutView,
        *,
        pictures: Sequence[tuple[bytes, str]] = (),
        view: discord.ui.View | None = None,
    ) -> discord.Message | None:
        """Replace the deferred message by the final one: a text with ``pictures`` (bytes,
        filename) attached and ``view``'s controls under it, or a card (components V2) showing
        its ``pictures`` as ``attachment://filename``. Returns the message shown (None when
        there is nowhere to show it)."""
        # the controls are sent only when given, so other answers keep their exact payload
        controls: dict[str, Any] = {"view": view} if view is not None else {}
        if not self.expired:
            files = [self._file(picture) for picture in pictures]
            body: dict[str, Any]
            if isinstance(content, discord.ui.LayoutView):
                # the card replaces the passing state's text: Discord refuses content beside it
                body = {"content": None, "view": content}
            else:
                body = {"content": _fit(content), **controls}
            try:
                return await self.interaction.edit_original_response(attachments=files, **body)
            except discord.HTTPException as error:
                if not _token_rejected(error):
                    raise
                self._token_dead = True
        return await self._post_in_channel(content, pictures, **controls)

    async def refuse(self, content: str, *, private: bool = True) -> None:
        """Tell the member why not, ephemerally while the token lives (after it, where a late
        answer goes: the channel, or the member's DMs).

        A public deferred message is deleted first: the refusal is for the member alone, and the
        channel is not left with a "thinking" message that never ends. With ``private=False``
        the deferred message itself says it (a notice everyone waiting may read, e.g. a restart).
        """
        interaction = self.interaction
        if interaction.type is discord.InteractionType.autocomplete:
            return
        if not interaction.response.is_done():
            await interaction.response.send_message(_fit(content), ephemeral=True)
            return
        if not private and interaction.response.type is _DEFERRED:
            await self.finish(content)
            return
        if not self.expired:
            try:
                if interaction.response.type is _DEFERRED:
                    await interaction.delete_original_response()
                await interaction.followup.send(_fit(content), ephemeral=True)
                return
            except discord.HTTPException as error:
                if not _token_rejected(error):
                    raise
                self._token_dead = True
        await self._post_in_channel(content, None)

    async def _destination(self) -> discord.abc.Messageable | None:
        """Where an answer goes once the token expired: the channel if the bot may post there,
        else the member's DMs (None if Discord refuses to open them)."""
        interaction = self.interaction
        if self.to_channel:
            log.info("Interaction token expired; posting in channel %s", interaction.channel_id)
            if isinstance(interaction.channel, discord.abc.Messageable):
                return interaction.channel
            assert interaction.channel_id is not None
            return interaction.client.get_partial_messageable(interaction.channel_id)
        log.info("Interaction token expired; sending to user %s directly", interaction.user.id)
        try:
            return await interaction.client.create_dm(discord.Object(interaction.user.id))
        except discord.HTTPException as error:
            log.warning("Could not open a DM with user %s: %s", interaction.user.id, error)
            return None

    @staticmethod
    def _file(picture: tuple[bytes, str]) -> discord.File:
        data, filename = picture
        return discord.File(io.BytesIO(data), filename=filename)

    async def _post_in_channel(
        self,
        content: str | discord.ui.LayoutView,
        pictures: Sequence[tuple[bytes, str]] | None,
        *,
        view: discord.ui.View = discord.utils.MISSING,
    ) -> discord.Message | None:
        interaction = self.interaction
        channel = await self._destination()
        if channel is None:
            return None
        # files only when there are some, so a refusal keeps its exact payload
        files: dict[str, Any] = {"files": [self._file(p) for p in pictures]} if pictures else {}
        mention = interaction.user.mention
        allowed = discord.AllowedMentions(users=[interaction.user])
        if isinstance(content, discord.ui.LayoutView):
            # a card has no content to put the mention in: its text must name the member
            texts = [i for i in content.walk_children() if isinstance(i, discord.ui.TextDisplay)]
            if not any(mention in text.content for text in texts):
                content.add_item(discord.ui.TextDisplay(mention))
            sent = {"view": content, "allowed_mentions": allowed, **files}
        else:
            controls: dict[str, Any] = {"view": view} if view is not discord.utils.MISSING else {}
            sent = {
                "content": _fit(f"{mention} {content}"),
                "allowed_mentions": allowed,
                **files,
                **controls,
            }
        try:
            return await channel.send(**sent)
        except discord.Forbidden as error:
            if self.to_channel:
                raise
            # the member takes no DMs from the app: nothing else can reach them
            log.warning("Could not send user %s their answer by DM: %s", interaction.user.id, error)
            return None
