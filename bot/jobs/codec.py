"""The one JSON form of a dream's settings, its animation and its job request, for whatever stores
or sends them (the Celery backend, the bot's database): tolerant of older and newer writers."""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from bot.errors import BotError
from bot.jobs.base import JobKind, JobRequest, Origin
from engine import AnimationParams, DreamParams, ZoomParams
from engine.errors import DreamError

__all__ = [
    "CodecError",
    "animation_from_json",
    "animation_to_json",
    "from_json",
    "kind_from_json",
    "origin_from_json",
    "origin_to_json",
    "params_from_json",
    "params_to_json",
    "request_from_json",
    "request_to_json",
    "to_json",
]

T = TypeVar("T")


class CodecError(BotError):
    """A stored or sent dream cannot be read back (garbage, or settings the engine refuses)."""


def to_json(value: Any) -> Any:
    """A dataclass (or a value inside one) as JSON values: tuples as lists, enums as their value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    return value


def from_json(cls: type[T], data: object, *, what: str) -> T:
    """A frozen dataclass back from its JSON form: unknown fields ignored, missing ones defaulted,
    each value checked against its field's type; anything unreadable raises `CodecError`.

    ``what`` names the thing for the member ("the dream's settings")."""
    if not isinstance(data, Mapping):
        raise CodecError(f"I could not read {what}: expected an object, got {_kind(data)}.")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _coerce(hints[f.name], data[f.name], f.name, what)
    try:
        return cls(**values)
    except (DreamError, TypeError, ValueError) as error:
        raise CodecError(f"I could not read {what}: {error}") from error


def params_to_json(params: DreamParams) -> dict[str, Any]:
    result: dict[str, Any] = to_json(params)
    return result


def params_from_json(data: Mapping[str, Any]) -> DreamParams:
    return from_json(DreamParams, data, what="the dream's settings")


def animation_to_json(animation: AnimationParams | ZoomParams | None) -> dict[str, Any] | None:
    if animation is None:
        return None
    result: dict[str, Any] = to_json(animation)
    return result


def animation_from_json(
    kind: JobKind, data: Mapping[str, Any] | None
) -> AnimationParams | ZoomParams | None:
    """The animation settings a job of ``kind`` needs (the engine's defaults when ``data`` is
    None); None for a still dream, whatever ``data`` says."""
    match kind:
        case JobKind.DREAM:
            return None
        case JobKind.ANIMATED:
            return from_json(AnimationParams, data or {}, what="the animation's settings")
        case JobKind.ZOOM:
            return from_json(ZoomParams, data or {}, what="the zoom's settings")
    raise CodecError(f"I could not read the kind of dream {kind!r}.")  # pragma: no cover


def kind_from_json(value: object) -> JobKind:
    """A job's kind; missing (an older writer) is a still dream."""
    if value is None or value == "":
        return JobKind.DREAM
    try:
        return JobKind(str(value))
    except ValueError:
        raise CodecError(
            f"I don't know how to make a {value!r} dream; a newer version of me must do it."
        ) from None


def origin_to_json(origin: Origin | None) -> dict[str, Any] | None:
    result: dict[str, Any] | None = None if origin is None else to_json(origin)
    return result


def origin_from_json(data: Mapping[str, Any] | None) -> Origin | None:
    return None if data is None else from_json(Origin, data, what="where to answer")


def request_to_json(request: JobRequest) -> dict[str, Any]:
    """A job request as JSON values, without its picture (that travels on its own)."""
    return {
        "user_id": request.user_id,
        "params": params_to_json(request.params),
        "max_bytes": request.max_bytes,
        "origin": origin_to_json(request.origin),
        "kind": request.kind.value,
        "animation": animation_to_json(request.animation),
    }


def request_from_json(data: Mapping[str, Any], picture: bytes) -> JobRequest:
    """A job request back from `request_to_json`'s form, with its picture."""
    if not isinstance(data, Mapping):
        raise CodecError(f"I could not read the dream's request: got {_kind(data)}.")
    if "params" not in data:
        raise CodecError("I could not read the dream's request: it has no settings.")
    user_id = _coerce(int, data.get("user_id"), "user_id", "the dream's request")
    max_bytes = _coerce(int | None, data.get("max_bytes"), "max_bytes", "the dream's request")
    kind = kind_from_json(data.get("kind"))
    origin = data.get("origin")
    animation = data.get("animation")
    if origin is not None and not isinstance(origin, Mapping):
        raise CodecError(f"I could not read where to answer: got {_kind(origin)}.")
    if animation is not None and not isinstance(animation, Mapping):
        raise CodecError(f"I could not read the animation's settings: got {_kind(animation)}.")
    return JobRequest(
        user_id=user_id,
        picture=picture,
        params=params_from_json(data["params"]),
        max_bytes=max_bytes,
        origin=origin_from_json(origin),
        kind=kind,
        animation=animation_from_json(kind, animation),
    )


# internals


def _hints(cls: type) -> dict[str, Any]:
    return _cached_hints(cls)


@functools.cache
def _cached_hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _kind(value: object) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _coerce(tp: Any, value: object, name: str, what: str) -> Any:
    """``value`` as the annotation ``tp`` wants it (JSON lists become tuples), or `CodecError`."""
    converted = _convert(tp, value)
    if converted is _INVALID:
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        raise CodecError(f"I could not read {what}: {name} cannot be {shown}.")
    return converted


_INVALID = object()


def _convert(tp: Any, value: object) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        for arg in typing.get_args(tp):
            converted = _convert(arg, value)
            if converted is not _INVALID:
                return converted
        return _INVALID
    if tp is type(None):
        return None if value is None else _INVALID
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return _INVALID
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            items = [_convert(args[0], item) for item in value]
        elif len(args) == len(value):
            items = [_convert(arg, item) for arg, item in zip(args, value, strict=True)]
        else:
            return _INVALID
        return _INVALID if any(item is _INVALID for item in items) else tuple(items)
    if tp is bool:
        return value if isinstance(value, bool) else _INVALID
    if tp is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _INVALID
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return _INVALID
    if tp is str:
        return value if isinstance(value, str) else _INVALID
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            return _INVALID
    return value  # a type this codec does not check: the dataclass checks it
