"""Tests for bot/dreams/_texts.py: the result line, Info, the retention notice, token time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import discord

from bot.dreams import gone, info_text, kept_for, summary, token_left
from bot.jobs import JobKind
from bot.storage import DreamKind
from engine import AnimationParams, DreamParams, ZoomParams
from tests.bot.support.records import record

PARAMS = DreamParams(steps=3, octaves=2, seed=11, layers=("eyes",))
ZOOMED = ZoomParams(frames=6, zoom=0.04, rotate=2.0, steps=5)


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
    zoom = ZoomParams(frames=6, zoom=0.04, rotate=0.0, steps=5, fps=12.0)
    zoomed = record(job_kind=JobKind.ZOOM, animation=zoom, kind=DreamKind.DEEPER)
    text = info_text(zoomed)
    for part in (
        "Zoom by <@7>",
        "last frame of an earlier zoom",
        "6 frames",
        "4% closer",
        "5 steps",
    ):
        assert part in text, (part, text)
    animated = info_text(
        record(job_kind=JobKind.ANIMATED, animation=AnimationParams(), note="3 frames")
    )
    assert "every frame of an animation · 3 frames" in animated


def test_token_left_follows_the_interaction_id() -> None:
    """A stored token lives 15 minutes from its interaction's snowflake time; none is expired."""
    now = datetime.now(UTC)
    asked = discord.utils.time_snowflake(now - timedelta(minutes=5))
    left = token_left(record(interaction_id=asked, interaction_token="t"), now=now)
    assert timedelta(minutes=9, seconds=59) < left <= timedelta(minutes=10)
    assert token_left(record()) < timedelta(0)


def test_a_dream_a_zoom_a_mix_and_a_note() -> None:
    """A dream's line names its steps and octaves; a zoom's its frames; a mix all its layers;
    a note comes last."""
    assert summary(PARAMS, 2.25) == (
        "🌀 efficientnet_lite0 · eyes · 3 steps × 2 octaves · strength 1 · seed 11 · 2.2 s"
    )
    assert summary(dataclasses.replace(PARAMS, steps=1, octaves=1), 1).count("1 step ×") == 1
    assert summary(PARAMS, 3, kind=JobKind.ZOOM, animation=ZOOMED) == (
        "🌀 zoom · efficientnet_lite0 · eyes · 6 frames × 4% · 2° a frame · 5 steps each"
        " · seed 11 · 3.0 s"
    )
    assert summary(PARAMS, 1, note="3 frames").endswith("· 1.0 s · 3 frames")
    mixed = dataclasses.replace(PARAMS, layers=("eyes", "fur"))
    assert " · eyes+fur · " in summary(mixed, 1)
    animated = summary(PARAMS, 1, kind=JobKind.ANIMATED, animation=AnimationParams())
    assert animated == summary(PARAMS, 1)
