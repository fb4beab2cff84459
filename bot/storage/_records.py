"""What the store keeps, as typed values: a dream (`DreamRecord`), its state, a server's settings
(`ServerSettings`), and a dream's settings as JSON text through the one codec of bot.jobs.codec,
so a dream survives restarts (and other workers, and other versions)."""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
from dataclasses import dataclass
from typing import Any

from bot.jobs import JobKind, codec
from engine import AnimationParams, DreamParams, ZoomParams

__all__ = [
    "DreamKind",
    "DreamRecord",
    "DreamState",
    "ServerSettings",
    "StorageError",
    "animation_from_json",
    "animation_to_json",
    "job_kind_from_text",
    "params_from_json",
    "params_to_json",
]

log = logging.getLogger(__name__)


class StorageError(Exception):
    """The data file cannot be used (newer than this bot, unreadable, closed)."""


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise StorageError(f"stored {what} are not JSON: {error}") from error


def params_to_json(params: DreamParams) -> str:
    """Every `DreamParams` field as one JSON object (tuples become lists)."""
    return _dumps(codec.params_to_json(params))


def params_from_json(text: str) -> DreamParams:
    """`DreamParams` from `params_to_json`; fields this version does not know are ignored,
    missing ones take their defaults."""
    data = _loads(text, "dream parameters")
    try:
        return codec.params_from_json(data)
    except codec.CodecError as error:
        raise StorageError(f"stored dream parameters are invalid: {error}") from error


def job_kind_from_text(text: str | None) -> JobKind:
    try:
        return JobKind(text or JobKind.DREAM)
    except ValueError as error:
        raise StorageError(f"stored job kind {text!r} is unknown to this version") from error


def animation_to_json(animation: AnimationParams | ZoomParams | None) -> str | None:
    """A moving dream's settings as text; None for a still dream."""
    data = codec.animation_to_json(animation)
    return None if data is None else _dumps(data)


def animation_from_json(kind: JobKind, text: str | None) -> AnimationParams | ZoomParams | None:
    """The settings from `animation_to_json` for a job of ``kind``; a moving dream whose settings
    cannot be read takes the defaults (logged)."""
    if text is None:
        data = None
    else:
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("Ignoring unreadable animation settings %r", text[:100])
            data = None
    try:
        return codec.animation_from_json(kind, data if isinstance(data, dict) else None)
    except codec.CodecError as error:
        raise StorageError(f"stored animation settings are invalid: {error}") from error


class DreamState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DreamKind(enum.Enum):
    """How a dream was asked for: a command, or a button on an earlier result."""

    DREAM = "dream"  # /dream or the "Dream this image" menu
    DEEPER = "deeper"  # "Dream deeper": an earlier result dreamed again
    LAYER = "layer"  # "Another layer": an earlier dream's original with another layer


@dataclass(frozen=True, kw_only=True, slots=True)
class DreamRecord:
    """One dream as stored: who asked where, how, what came of it, and where it was answered."""

    id: str
    guild_id: int | None
    channel_id: int | None
    user_id: int
    kind: DreamKind
    # the dream whose button asked for this one, and the /dream that uploaded the original
    parent_id: str | None
    origin_id: str
    params: DreamParams
    state: DreamState
    created_at: float  # unix seconds
    started_at: float | None
    finished_at: float | None
    seconds: float | None  # time the engine took
    error: str | None
    has_input: bool  # False once retention or Delete removed the picture
    has_output: bool
    output_filename: str | None
    message_id: int | None  # the message that shows the result
    # kept while the dream is unfinished, so a restarted bot can answer in the same message
    interaction_id: int | None
    interaction_token: str | None = dataclasses.field(repr=False)
    max_bytes: int | None
    deleted: bool
    # what the job makes (one picture, every frame, a zoom) and the moving dream's settings
    job_kind: JobKind = JobKind.DREAM
    animation: AnimationParams | ZoomParams | None = None
    # said after the result line, e.g. "3 frames, every 2nd frame (3 of 6)"
    note: str | None = None
    # a guide picture is kept with the dream (until retention or Delete removes it)
    has_guide: bool = False
    # the member's picture was a spoiler: every result made from it is shown as one
    spoiler: bool = False

    def message_url(self) -> str | None:
        """The link to the result message, if it is known."""
        if self.message_id is None or self.channel_id is None:
            return None
        where = self.guild_id if self.guild_id is not None else "@me"
        return f"https://discord.com/channels/{where}/{self.channel_id}/{self.message_id}"


def _optional_int(value: object, *, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerSettings:
    """One server's choices; None (or no channels) means the bot's own setting applies."""

    # channels where dreams may be asked for (threads follow their channel); empty: everywhere
    allowed_channels: tuple[int, ...] = ()
    default_model: str | None = None
    # a preset name of the default model
    default_layer: str | None = None
    max_side: int | None = None
    max_steps: int | None = None
    max_octaves: int | None = None
    # dreams one member may have waiting or running in this server
    user_queue_limit: int | None = None
    # seconds between two dreams of one member in this server
    cooldown_s: float | None = None
    # False: /dream dreams an animation's first frame only and /dream-zoom is refused; None:
    # DREAM_ANIMATIONS decides (the server cannot turn on what the bot has turned off)
    allow_animations: bool | None = None
    # False: /dream refuses a guide picture (`guide`) or a class (`dream_of`) here
    allow_guides: bool | None = None
    allow_classes: bool | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ServerSettings:
        """Settings from `to_json`; unknown keys and values of the wrong kind are dropped."""
        try:
            data: Any = json.loads(text)
        except ValueError:
            log.warning("Ignoring unreadable server settings %r", text[:100])
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls(
            allowed_channels=_ids(data.get("allowed_channels")),
            default_model=_text(data.get("default_model")),
            default_layer=_text(data.get("default_layer")),
            max_side=_optional_int(data.get("max_side"), low=32, high=8192),
            max_steps=_optional_int(data.get("max_steps"), low=1, high=200),
            max_octaves=_optional_int(data.get("max_octaves"), low=1, high=10),
            user_queue_limit=_optional_int(data.get("user_queue_limit"), low=1, high=1000),
            cooldown_s=_seconds(data.get("cooldown_s")),
            allow_animations=_flag(data.get("allow_animations")),
            allow_guides=_flag(data.get("allow_guides")),
            allow_classes=_flag(data.get("allow_classes")),
        )


def _ids(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, int) and not isinstance(v, bool))


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
