"""Tests for bot/cogs/results without Discord: the controls' custom ids, and the cogs loading
and unloading cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bot import DreamBot
from bot.cogs.results import DYNAMIC_ITEMS, result_view
from engine import presets
from tests.bot.support.records import idle_backend, record, settings


async def test_result_view_carries_the_dream_id_in_every_custom_id() -> None:
    """Each control's custom_id names the dream and matches its DynamicItem's template."""
    view = result_view(record())
    ids = [item.custom_id for item in view.children]  # type: ignore[attr-defined]
    assert ids == [f"dream:{a}:{'a' * 32}" for a in ("deeper", "info", "delete", "layer")]
    templates = [item.__discord_ui_compiled_template__ for item in DYNAMIC_ITEMS]
    for custom_id in ids:
        assert sum(bool(t.fullmatch(custom_id)) for t in templates) == 1
    select = view.children[-1]
    options = [o.value for o in select.item.options]  # type: ignore[attr-defined]
    assert options == [p.name for p in presets("efficientnet_lite0")]


@pytest.mark.parametrize("extension", ["bot.cogs.results", "bot.cogs.admin", "bot.cogs.queue_info"])
async def test_each_new_cog_unloads_cleanly(tmp_path: Path, extension: str) -> None:
    """The results, settings and queue cogs load and unload, leaving no commands behind."""
    bot = DreamBot(settings=settings(dream_data_dir=tmp_path), jobs=idle_backend())
    await bot.open_dreams()
    await bot.load_extension("bot.cogs.results")
    if extension != "bot.cogs.results":
        await bot.load_extension(extension)
        await bot.unload_extension(extension)
    await bot.unload_extension("bot.cogs.results")
    assert bot.tree.get_commands() == []
    assert not bot._connection._view_store._dynamic_items
    await bot.close()
