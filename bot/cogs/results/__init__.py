"""Results people can play with: every dream shown as a card (components V2) with its controls
(Dream deeper, Another layer, Info, Delete), restart-safe, and the upkeep of the dreams'
records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cogs.results._buttons import DYNAMIC_ITEMS, result_controls, result_view
from bot.cogs.results._card import Card, result_card
from bot.cogs.results._cog import Results

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = [
    "DYNAMIC_ITEMS",
    "Card",
    "Results",
    "result_card",
    "result_controls",
    "result_view",
    "setup",
]


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Results(bot, bot.dreams))
