"""The `Results` cog: opens the store and makes ``bot.dreams``, registers the result controls,
queues again the dreams a restart interrupted, and deletes pictures past their retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from bot.cogs.results._buttons import DYNAMIC_ITEMS
from bot.cogs.results._pipeline import Dreams
from bot.jobs import Resumable
from bot.storage import Store

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = ["CLEANUP_INTERVAL_S", "Results"]

log = logging.getLogger(__name__)

CLEANUP_INTERVAL_S = 3600.0


class Results(commands.Cog):
    """Makes every dream's result playable, across restarts."""

    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        self._cleaner: asyncio.Task[None] | None = None
        self._resumed = False

    async def cog_load(self) -> None:
        store = await Store.open(self.bot.settings.dream_data_dir)
        self.bot.dreams = Dreams(self.bot, store)
        if isinstance(self.bot.jobs, Resumable):
            self.bot.jobs.on_resumed = self.bot.dreams.take_over
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        self._cleaner = asyncio.create_task(self._clean_periodically(), name="dream-cleanup")
        self._cleaner.add_done_callback(self._cleaner_ended)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)
        if self._cleaner is not None:
            self._cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleaner
        await self.bot.dreams.store.close()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # on_ready comes again after a reconnect; the dreams are resumed once per start
        if self._resumed:
            return
        self._resumed = True
        resumed = await self.bot.dreams.resume()
        if resumed:
            log.info("Queued %d interrupted dreams again", resumed)

    async def _clean_periodically(self) -> None:
        while True:
            try:
                await self.bot.dreams.cleanup()
            except Exception:
                log.exception("Could not delete old pictures; trying again in an hour")
            await asyncio.sleep(CLEANUP_INTERVAL_S)

    @staticmethod
    def _cleaner_ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("The picture cleanup stopped", exc_info=error)
