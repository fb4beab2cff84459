"""Tests for bot/cogs/results without Discord: server rules, the texts members read, the
controls' custom ids, and the restart-safe bookkeeping of `Dreams`."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.bot import DreamBot
from bot.cogs.results import Dreams, NotHere, Rules, asked_options
from bot.cogs.results._answers import gone, info_text, kept_for, summary, token_left
from bot.cogs.results._buttons import DYNAMIC_ITEMS, result_view
from bot.cogs.results._rules import AlreadyDreaming
from bot.errors import OptionRejected
from bot.jobs import LocalBackend
from bot.settings import Settings
from bot.storage import DreamKind, DreamRecord, DreamState, ServerSettings
from engine import DreamParams, presets


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "discord_token": "t",
        "dream_models": "efficientnet_lite0,googlenet",
        "dream_max_side": 512,
        "dream_user_queue_limit": 3,
        "dream_cooldown_s": 10,
    }
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


def idle_backend() -> LocalBackend:
    return LocalBackend(make_runner=lambda: None)  # type: ignore[arg-type,return-value]


def record(**overrides: Any) -> DreamRecord:
    values: dict[str, Any] = {
        "id": "a" * 32,
        "guild_id": 1,
        "channel_id": 2,
        "user_id": 7,
        "kind": DreamKind.DREAM,
        "parent_id": None,
        "origin_id": "a" * 32,
        "params": DreamParams(steps=3, octaves=2, seed=11, layers=("eyes",), max_side=256),
        "state": DreamState.DONE,
        "created_at": 1_700_000_000.0,
        "started_at": None,
        "finished_at": None,
        "seconds": 2.25,
        "error": None,
        "has_input": True,
        "has_output": True,
        "output_filename": "dream.png",
        "message_id": 3,
        "interaction_id": None,
        "interaction_token": None,
        "max_bytes": None,
        "deleted": False,
    }
    return DreamRecord(**{**values, **overrides})


def test_the_stricter_setting_wins() -> None:
    """Server caps only lower the bot's, its cooldown only lengthens it; defaults fall back."""
    bot = settings()
    assert Rules.merge(bot, ServerSettings()) == Rules(
        models=("efficientnet_lite0", "googlenet"),
        allowed_channels=(),
        model="efficientnet_lite0",
        layer=None,
        max_side=512,
        max_steps=50,
        max_octaves=8,
        user_limit=3,
        cooldown_s=10,
    )
    server = ServerSettings(
        default_model="googlenet",
        max_side=4096,
        max_steps=5,
        max_octaves=2,
        user_queue_limit=9,
        cooldown_s=3,
    )
    rules = Rules.merge(bot, server)
    assert (rules.model, rules.max_side, rules.max_steps, rules.max_octaves) == (
        "googlenet",
        512,
        5,
        2,
    )
    assert (rules.user_limit, rules.cooldown_s) == (3, 10)
    gone_model = Rules.merge(bot, ServerSettings(default_model="vgg16"))
    assert gone_model.model == "efficientnet_lite0"


def test_allowed_channels_and_their_threads() -> None:
    """With channels chosen, only they (and their threads) may dream; the refusal names them."""
    rules = Rules.merge(settings(), ServerSettings(allowed_channels=(5, 6)))
    rules.check_channel(5)
    rules.check_channel(99, parent=6)
    with pytest.raises(NotHere, match="<#5>, <#6>"):
        rules.check_channel(99)
    Rules.merge(settings(), ServerSettings()).check_channel(99)


def test_fit_refuses_what_was_asked_and_lowers_the_defaults() -> None:
    """Asked-for steps or octaves above a cap are refused; defaults and the side are lowered."""
    rules = Rules.merge(settings(), ServerSettings(max_steps=4, max_octaves=2, max_side=128))
    params = DreamParams(steps=10, octaves=4, max_side=512)
    fitted = rules.fit(params)
    assert (fitted.steps, fitted.octaves, fitted.max_side) == (4, 2, 128)
    with pytest.raises(OptionRejected, match="at most 4 steps"):
        rules.fit(params, asked={"steps"})
    with pytest.raises(OptionRejected, match="at most 2 octaves"):
        rules.fit(params, asked={"octaves"})
    with pytest.raises(OptionRejected, match="vgg16"):
        rules.fit(DreamParams(model="vgg16"))


def test_the_default_layer_applies_only_when_none_was_chosen_and_it_exists() -> None:
    """The server's default layer fills an empty choice, for a model that has that preset."""
    rules = Rules.merge(settings(), ServerSettings(default_layer="fur"))
    assert rules.with_default_layer(DreamParams()).layers == ("fur",)
    assert rules.with_default_layer(DreamParams(layers=("eyes",))).layers == ("eyes",)
    assert "fur" not in {p.name for p in presets("googlenet")}
    assert rules.with_default_layer(DreamParams(model="googlenet")).layers == ()


def test_asked_options_are_the_typed_ones() -> None:
    """Only the options in the interaction's data count as asked for."""
    typed = SimpleNamespace(data={"options": [{"name": "steps", "value": 3}, {"name": "image"}]})
    assert asked_options(typed) == {"steps", "image"}  # type: ignore[arg-type]
    assert asked_options(SimpleNamespace(data=None)) == frozenset()  # type: ignore[arg-type]


def test_texts_for_members() -> None:
    """The result line, Info and the retention notice say what a member needs."""
    dream = record()
    assert summary(dream.params, 2.25) == (
        "🌀 efficientnet_lite0 · eyes · 3 steps × 2 octaves · strength 1 · seed 11 · 2.2 s"
    )
    info = info_text(dataclasses.replace(dream, kind=DreamKind.DEEPER))
    for part in ("<@7>", "<t:1700000000:R>", "deeper", "eyes", "seed 11", "256 px", "2.2 s"):
        assert part in info, part
    assert (kept_for(7), kept_for(1.5), kept_for(0.5), kept_for(0.001)) == (
        "7 days",
        "1.5 days",
        "12 hours",
        "1 minute",
    )
    assert "7 days" in str(gone(dream, retention_days=7))
    assert "deleted" in str(gone(dataclasses.replace(dream, deleted=True), retention_days=7))
    assert "don't remember" in str(gone(None, retention_days=7))


def test_info_tells_a_zoom_and_an_animation_apart() -> None:
    """Info shows a zoom's frames and zoom, and that an animated dream dreamed every frame."""
    zoom = {"frames": 6, "zoom": 0.04, "rotate": 0.0, "steps": 5, "fps": 12.0}
    zoomed = record(job_kind="zoom", animation=zoom, kind=DreamKind.DEEPER)
    text = info_text(zoomed)
    for part in (
        "Zoom by <@7>",
        "last frame of an earlier zoom",
        "6 frames",
        "4% closer",
        "5 steps",
    ):
        assert part in text, (part, text)
    animated = info_text(record(job_kind="animated", animation={}, note="3 frames"))
    assert "every frame of an animation · 3 frames" in animated


def test_animations_follow_the_bot_and_then_the_server() -> None:
    """Rules.animations: the bot's DREAM_ANIMATIONS first; a server may only turn them off."""
    on, off = settings(), settings(dream_animations=False)
    assert Rules.merge(on, ServerSettings()).animations
    assert not Rules.merge(on, ServerSettings(allow_animations=False)).animations
    assert Rules.merge(on, ServerSettings(allow_animations=True)).animations
    assert not Rules.merge(off, ServerSettings(allow_animations=True)).animations


def test_token_left_follows_the_interaction_id() -> None:
    """A stored token lives 15 minutes from its interaction's snowflake time; none is expired."""
    now = datetime.now(UTC)
    asked = discord.utils.time_snowflake(now - timedelta(minutes=5))
    left = token_left(record(interaction_id=asked, interaction_token="t"), now=now)
    assert timedelta(minutes=9, seconds=59) < left <= timedelta(minutes=10)
    assert token_left(record()) < timedelta(0)


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


@pytest.mark.parametrize("extension", ["bot.cogs.results", "bot.cogs.admin", "bot.cogs.queue_info"])
async def test_each_new_cog_unloads_cleanly(tmp_path: Path, extension: str) -> None:
    """The results, settings and queue cogs load and unload, leaving no commands behind."""
    bot = DreamBot(settings=settings(dream_data_dir=tmp_path), jobs=idle_backend())
    await bot.load_extension("bot.cogs.results")
    if extension != "bot.cogs.results":
        await bot.load_extension(extension)
        await bot.unload_extension(extension)
    await bot.unload_extension("bot.cogs.results")
    assert bot.tree.get_commands() == []
    assert not bot._connection._view_store._dynamic_items
    await bot.close()
