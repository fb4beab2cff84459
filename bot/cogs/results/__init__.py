"""Results people can play with: the controls under every dream (Dream deeper, Another layer,
Info, Delete), the dreams' records and server rules, and `Dreams`, which runs every dream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cogs.results._answers import summary
from bot.cogs.results._cog import Results
from bot.cogs.results._pipeline import Dreams, QueueView
from bot.cogs.results._rules import MAX_OCTAVES, MAX_STEPS, NotHere, Rules, asked_options

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = [
    "MAX_OCTAVES",
    "MAX_STEPS",
    "Dreams",
    "NotHere",
    "QueueView",
    "Results",
    "Rules",
    "asked_options",
    "setup",
    "summary",
]


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Results(bot))
