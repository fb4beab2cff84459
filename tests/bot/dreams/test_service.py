"""Tests for bot/dreams/_service.py without Discord: the restart-safe bookkeeping of `Dreams`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bot import DreamBot
from bot.dreams import Dreams
from bot.errors import AlreadyDreaming
from tests.bot.support.records import idle_backend, settings


async def test_once_refuses_a_second_click_until_the_first_is_done(tmp_path: Path) -> None:
    """The double-click guard holds a key while its dream is on its way, then lets it go."""
    bot = DreamBot(settings=settings(dream_data_dir=tmp_path), jobs=idle_backend())
    dreams = Dreams(bot, store=None)  # type: ignore[arg-type]
    with dreams.once("deeper", "x"):
        with pytest.raises(AlreadyDreaming), dreams.once("deeper", "x"):
            pass
        with dreams.once("deeper", "y"):
            pass
    with dreams.once("deeper", "x"):
        pass
    await bot.close()
