"""Tests for bot/cogs/results without Discord: the controls' custom ids, and the cogs loading
and unloading cleanly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.bot import DreamBot
from bot.cogs.results import DYNAMIC_ITEMS, result_controls, result_view
from bot.dreams._service import Finished
from engine import presets
from tests.bot.support.records import idle_backend, record, settings


async def test_result_controls_carry_the_dream_id_in_every_custom_id() -> None:
    """Each control's custom_id names the dream and matches its DynamicItem's template; the
    buttons share a row, the layer menu has its own."""
    buttons, menu = result_controls(record())
    controls = [*buttons.children, *menu.children]
    ids = [item.custom_id for item in controls]  # type: ignore[attr-defined]
    assert ids == [f"dream:{a}:{'a' * 32}" for a in ("deeper", "info", "delete", "layer")]
    templates = [item.__discord_ui_compiled_template__ for item in DYNAMIC_ITEMS]
    for custom_id in ids:
        assert sum(bool(t.fullmatch(custom_id)) for t in templates) == 1
    select = controls[-1]
    options = [o.value for o in select.item.options]  # type: ignore[attr-defined]
    assert options == [p.name for p in presets("efficientnet_lite0")]


async def test_result_view_puts_the_controls_on_the_card_only_with_a_record() -> None:
    """The hook the dreams service calls: a card with the record's controls, none without."""
    shown = Finished(
        line="🌀 a dream", recipe="eyes", user_id=7, picture=(b"png", "dream.png"), finished_at=1.0
    )
    with_controls = await result_view(dataclasses.replace(shown, record=record()))
    without = await result_view(shown)
    custom_ids = [getattr(i, "custom_id", None) for i in with_controls.layout.walk_children()]
    assert f"dream:deeper:{'a' * 32}" in custom_ids
    assert not without.layout.is_dispatchable()


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
