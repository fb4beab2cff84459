"""Tests for bot/jobs/codec.py: the one JSON form of a dream's settings, animation and request,
tolerant of older and newer writers, with one clear error for what cannot be read."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import BotError
from bot.jobs import JobKind, JobRequest, Origin
from bot.jobs.codec import (
    CodecError,
    animation_from_json,
    animation_to_json,
    params_from_json,
    params_to_json,
    request_from_json,
    request_to_json,
)
from engine import AnimationParams, DreamParams, ZoomParams

TERMS = ["eyes", "animals", "blocks.3", "mixed", "blocks.4:12", "features.7+eyes"]

dream_params = st.builds(
    DreamParams,
    model=st.sampled_from(["efficientnet_lite0", "googlenet", "a-model-from-the-future"]),
    layers=st.lists(st.sampled_from(TERMS), max_size=2, unique=True).map(tuple),
    channels=st.none() | st.lists(st.integers(0, 4096), min_size=1, max_size=4).map(tuple),
    octaves=st.integers(1, 10),
    octave_scale=st.floats(1.05, 2.0),
    steps=st.integers(1, 200),
    strength=st.floats(0.05, 10.0),
    jitter=st.integers(0, 256),
    max_side=st.integers(32, 8192),
    seed=st.none() | st.integers(0, 2**32 - 1),
    tile_size=st.integers(64, 4096),
    dream_of=st.none() | st.integers(0, 999) | st.sampled_from(["goldfish", "tabby cat"]),
    class_weight=st.floats(0.0, 100.0),
    guide_weight=st.floats(0.0, 100.0),
)


def through_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


@settings(deadline=None)  # a loaded machine must not fail a correct example
@given(dream_params)
def test_dream_params_survive_the_json_round_trip(params: DreamParams) -> None:
    """Any valid settings come back equal through JSON text, tuples as tuples."""
    back = params_from_json(through_json(params_to_json(params)))
    assert back == params
    assert isinstance(back.layers, tuple)
    assert back.channels is None or isinstance(back.channels, tuple)


def test_every_dream_params_field_is_written() -> None:
    """The form has a key per field (a field added to DreamParams needs no codec change)."""
    written = params_to_json(DreamParams(layers=("eyes",), channels=(3,)))
    assert set(written) == {f.name for f in dataclasses.fields(DreamParams)}
    assert written["layers"] == ["eyes"] and written["channels"] == [3]


def test_unknown_fields_are_ignored_and_missing_ones_defaulted() -> None:
    """A newer writer's extra field is skipped; an older writer's missing field is the default."""
    params = params_from_json({"steps": 3, "layers": ["eyes"], "sparkle": 0.7})
    assert params == DreamParams(steps=3, layers=("eyes",))
    assert params_from_json({}) == DreamParams()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": 500}, "steps must be between 1 and 200"),
        ({"steps": "ten"}, "steps cannot be 'ten'"),
        ({"steps": True}, "steps cannot be True"),
        ({"layers": ["eyes", 3]}, "layers cannot be"),
        ({"layers": "eyes"}, "layers cannot be 'eyes'"),
        ({"channels": []}, "at least one channel"),
        ({"seed": 1.5}, "seed cannot be 1.5"),
        ({"model": None}, "model cannot be None"),
    ],
)
def test_unreadable_settings_raise_one_clear_error(data: dict[str, Any], message: str) -> None:
    """Garbage and settings the engine refuses both raise CodecError, a BotError for members."""
    with pytest.raises(CodecError, match=message) as raised:
        params_from_json(data)
    assert isinstance(raised.value, BotError)
    assert str(raised.value).startswith("I could not read the dream's settings")


def test_settings_that_are_not_an_object_raise_codec_error() -> None:
    """A list or text where the settings should be is refused clearly."""
    with pytest.raises(CodecError, match="expected an object, got a list"):
        params_from_json([1, 2])  # type: ignore[arg-type]


def test_animation_settings_come_back_as_the_engines_types() -> None:
    """Each kind reads its own settings; a still dream has none; None means the defaults."""
    zoom = ZoomParams(frames=12, zoom=0.1, rotate=2.0)
    animation = AnimationParams(blend=0.5, follow_steps=3, sample=True, max_side=256)
    assert animation_from_json(JobKind.ZOOM, through_json(animation_to_json(zoom))) == zoom
    back = animation_from_json(JobKind.ANIMATED, through_json(animation_to_json(animation)))
    assert back == animation
    assert animation_from_json(JobKind.ZOOM, None) == ZoomParams()
    assert animation_from_json(JobKind.ANIMATED, {"later": 1}) == AnimationParams()
    assert animation_from_json(JobKind.DREAM, {"frames": 3}) is None
    assert animation_to_json(None) is None


def test_animation_settings_the_engine_refuses_raise_codec_error() -> None:
    """A zoom that would not move is refused with the engine's reason."""
    with pytest.raises(CodecError, match="nothing would move"):
        animation_from_json(JobKind.ZOOM, {"zoom": 0, "rotate": 0})


def test_a_request_survives_the_json_round_trip() -> None:
    """User, settings, limit, origin, kind and animation come back equal, with the picture."""
    origin = Origin(application_id=1, token="t", channel_id=9, user_id=5, created_at=17.5)
    sent = JobRequest(
        user_id=5,
        picture=b"png",
        params=DreamParams(layers=("eyes",), seed=3),
        max_bytes=1000,
        origin=origin,
        kind=JobKind.ZOOM,
        animation=ZoomParams(frames=8),
    )
    back = request_from_json(through_json(request_to_json(sent)), b"png")
    assert back == sent
    assert back.kind is JobKind.ZOOM


def test_a_request_from_a_newer_or_older_writer_is_read() -> None:
    """Unknown request fields are ignored; missing kind, limit and origin take their defaults."""
    back = request_from_json(
        {"user_id": 5, "params": {"steps": 2, "glow": 1}, "priority": "high"}, b"x"
    )
    assert back == JobRequest(user_id=5, picture=b"x", params=DreamParams(steps=2))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"user_id": 5}, "no settings"),
        ({"user_id": "five", "params": {}}, "user_id cannot be 'five'"),
        ({"user_id": 5, "params": {}, "kind": "sparkle"}, "don't know how to make a 'sparkle'"),
        ({"user_id": 5, "params": {}, "origin": {"token": "t"}}, "where to answer"),
        ({"user_id": 5, "params": {}, "kind": "zoom", "animation": [1]}, "animation's settings"),
    ],
)
def test_an_unreadable_request_raises_codec_error(data: dict[str, Any], message: str) -> None:
    """A request missing its settings, with a wrong type, or of an unknown kind is refused."""
    with pytest.raises(CodecError, match=message):
        request_from_json(data, b"x")
