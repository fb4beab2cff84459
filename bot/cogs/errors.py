"""The one error handler: every error of an application command becomes a short, friendly
answer; unexpected ones are logged with their traceback and never shown."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import BotError, ShuttingDown
from bot.reply import Reply
from engine import DreamError

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = ["SOMETHING_WENT_WRONG", "Errors", "explain", "setup"]

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = (
    "Something went wrong on our side. It has been logged; please try again later."
)


def _names(permissions: list[str]) -> str:
    return ", ".join(p.replace("_", " ").replace("guild", "server") for p in permissions)


def explain(error: BaseException) -> str | None:
    """The member's message for ``error``; None for an unexpected error (a bug or an outage)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, (BotError, DreamError)):
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Easy there, give me {max(1, round(error.retry_after))} s before your next try."
    if isinstance(error, app_commands.BotMissingPermissions):
        return f"I need these permissions here: {_names(error.missing_permissions)}."
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need these permissions for that: {_names(error.missing_permissions)}."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in servers only."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't make sense of {error.value!r} for that option."
    if isinstance(error, (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)):
        return "This command changed a moment ago; please try again in a minute."
    return None


class Errors(commands.Cog):
    """Installs itself as the command tree's error handler while loaded."""

    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        self._previous = bot.tree.on_error
        bot.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    async def cog_unload(self) -> None:
        self.bot.tree.on_error = self._previous  # type: ignore[method-assign]

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        message = explain(original)
        command = interaction.command.qualified_name if interaction.command else "?"
        if message is None:
            log.error(
                "Unexpected error in %s for user %s",
                command,
                interaction.user.id,
                exc_info=(type(original), original, original.__traceback__),
            )
            message = SOMETHING_WENT_WRONG
        else:
            log.info("%s refused for user %s: %s", command, interaction.user.id, message)
        reply = interaction.extras.get("reply")
        if not isinstance(reply, Reply):
            reply = Reply(interaction)
        try:
            # a restart notice replaces the public progress message; anything else is private
            await reply.refuse(f"⚠️ {message}", private=not isinstance(original, ShuttingDown))
        except discord.HTTPException as failure:
            log.warning("Could not tell user %s about an error: %s", interaction.user.id, failure)


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Errors(bot))
