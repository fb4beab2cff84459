"""The command tree's error handler: every error of an application command becomes a short,
friendly answer (bot.dreams.tell_error); unexpected ones are logged and never shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.dreams import SOMETHING_WENT_WRONG, explain, tell_error
from bot.reply import Reply

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = ["SOMETHING_WENT_WRONG", "Errors", "explain", "setup"]


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
        command = interaction.command.qualified_name if interaction.command else "a command"
        reply = interaction.extras.get("reply")
        if not isinstance(reply, Reply):
            reply = Reply(interaction)
        await tell_error(reply, original, what=command)


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Errors(bot))
