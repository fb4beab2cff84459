"""The `Results` cog: registers the result controls (and hands them to the dreams service), queues
again the dreams a restart interrupted, and deletes pictures past their retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from bot.cogs.results._buttons import DYNAMIC_ITEMS, result_view

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.dreams import Dreams

__all__ = ["CLEANUP_INTERVAL_S", "Results"]

log = logging.getLogger(__name__)

CLEANUP_INTERVAL_S = 3600.0


class Results(commands.Cog):
    """Makes every dream's result playable, across restarts."""

    def __init__(self, bot: DreamBot, dreams: Dreams) -> None:
        self.bot = bot
        self.dreams = dreams
        self._cleaner: asyncio.Task[None] | None = None
        self._resumed = False

    async def cog_load(self) -> None:
        self.dreams.result_view = result_view
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        self._cleaner = asyncio.create_task(self._clean_periodically(), name="dream-cleanup")
        self._cleaner.add_done_callback(self._cleaner_ended)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)
        self.dreams.result_view = None
        if self._cleaner is not None:
            self._cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaner

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # on_ready comes again after a reconnect; the dreams are resumed once per start
        if self._resumed:
            return
        self._resumed = True
        resumed = await self.dreams.resume()
        if resumed:
            log.info("Queued %d interrupted dreams again", resumed)

    async def _clean_periodically(self) -> None:
        while True:
            try:
                await self.dreams.cleanup()
            except Exception:
                log.exception("Could not delete old pictures; trying again in an hour")
            await asyncio.sleep(CLEANUP_INTERVAL_S)

    @staticmethod
    def _cleaner_ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("The picture cleanup stopped", exc_info=error)
