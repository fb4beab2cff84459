"""What members read about dreams: the result line, Info, why a dream is gone, and the one place
an exception becomes a member's message (`explain`, `tell_error`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import discord
from discord import app_commands

from bot.errors import BotError, Gone, ShuttingDown
from bot.jobs import JobKind
from bot.reply import TOKEN_LIFETIME, Reply
from bot.storage import DreamKind, DreamRecord, DreamState
from engine import (
    IMAGENET_CLASSES,
    AnimationParams,
    DreamError,
    DreamParams,
    ZoomParams,
    default_preset,
    imagenet_class,
)

__all__ = [
    "SOMETHING_WENT_WRONG",
    "class_name",
    "count",
    "describe",
    "explain",
    "gone",
    "info_text",
    "kept_for",
    "layer_name",
    "summary",
    "tell_error",
    "token_left",
]

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = (
    "Something went wrong on our side. It has been logged; please try again later."
)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def layer_name(params: DreamParams) -> str:
    """The layers a dream used, as a member reads them (``eyes+animals``)."""
    return "+".join(params.layers) if params.layers else default_preset(params.model).name


def class_name(params: DreamParams) -> str | None:
    """The ImageNet class a dream dreams of, as a member reads it (``tabby (281)``)."""
    if params.dream_of is None:
        return None
    try:
        index = imagenet_class(params.dream_of)
    except DreamError:
        return str(params.dream_of)
    return f"{IMAGENET_CLASSES[index]} ({index})"


def _extras(params: DreamParams, *, guided: bool) -> str:
    parts = [f"of {name}"] if (name := class_name(params)) else []
    if guided:
        parts.append("guided")
    if params.smooth:
        parts.append("smooth")
    return "".join(f" · {part}" for part in parts)


def describe(params: DreamParams, *, guided: bool = False) -> str:
    """What a dream looked for: its layers, then its class, guide and smoothing if any."""
    return layer_name(params) + _extras(params, guided=guided)


def _zoom(animation: AnimationParams | ZoomParams | None) -> ZoomParams:
    return animation if isinstance(animation, ZoomParams) else ZoomParams()


def summary(
    params: DreamParams,
    seconds: float,
    *,
    kind: JobKind = JobKind.DREAM,
    animation: AnimationParams | ZoomParams | None = None,
    note: str | None = None,
    guided: bool = False,
) -> str:
    """The result line of a job (its ``kind`` and ``animation``), then ``note``."""
    extras = _extras(params, guided=guided)
    if kind is JobKind.ZOOM:
        zoom = _zoom(animation)
        turn = f" · {zoom.rotate:g}° a frame" if zoom.rotate else ""
        line = (
            f"🌀 zoom · {params.model} · {layer_name(params)}{extras} · {zoom.frames} frames × "
            f"{zoom.zoom * 100:g}%{turn} · {zoom.steps} steps each · seed {params.seed}"
            f" · {seconds:.1f} s"
        )
    else:
        line = (
            f"🌀 {params.model} · {layer_name(params)}{extras} · {count(params.steps, 'step')}"
            f" × {count(params.octaves, 'octave')} · strength {params.strength:g}"
            f" · seed {params.seed} · {seconds:.1f} s"
        )
    return f"{line} · {note}" if note else line


def kept_for(days: float) -> str:
    """A retention period for people: "7 days", "12 hours", "30 minutes"."""
    if days >= 1:
        return count(round(days), "day") if days == round(days) else f"{days:g} days"
    hours = days * 24
    if hours >= 1:
        return count(round(hours), "hour")
    return count(max(1, round(hours * 60)), "minute")


def gone(record: DreamRecord | None, *, retention_days: float) -> Gone:
    """Why a control cannot dream ``record`` (or the dream it names) again."""
    if record is None:
        return Gone("I don't remember this dream any more. Start a new one with /dream.")
    if record.deleted:
        return Gone("That dream was deleted, so I can't dream it again.")
    if record.state is not DreamState.DONE and not record.has_input:
        return Gone("That dream never finished, so there is nothing to dream again.")
    return Gone(
        f"I keep pictures for {kept_for(retention_days)}, and this dream is older, so I can't "
        "dream it again. Start a new one with /dream."
    )


_ORIGINS = {
    DreamKind.DREAM: "",
    DreamKind.DEEPER: " · dreamed deeper from an earlier result",
    DreamKind.LAYER: " · another layer of an earlier dream",
}
_ZOOM_ORIGINS = {
    **_ORIGINS,
    DreamKind.DEEPER: " · zoomed on from the last frame of an earlier zoom",
    DreamKind.LAYER: " · the original picture zoomed again with another layer",
}


def _how(record: DreamRecord) -> str:
    """The line saying how the picture was dreamed: steps and octaves, or the zoom's settings."""
    p = record.params
    if record.job_kind is JobKind.ZOOM:
        zoom = _zoom(record.animation)
        turn = f", turning {zoom.rotate:g}° a frame" if zoom.rotate else ""
        return (
            f"Zoom: {count(zoom.frames, 'frame')}, {zoom.zoom * 100:g}% closer each{turn}"
            f" · {count(zoom.steps, 'step')} a frame · seed {p.seed} · at most {p.max_side} px"
        )
    line = (
        f"{count(p.steps, 'step')} × {count(p.octaves, 'octave')} · strength {p.strength:g}"
        f" · seed {p.seed} · at most {p.max_side} px"
    )
    if record.job_kind is JobKind.ANIMATED:
        line += " · every frame of an animation"
    return line


def info_text(record: DreamRecord) -> str:
    """Everything about how a dream was made, for the Info button."""
    p = record.params
    layers = ", ".join(p.layers) if p.layers else f"{layer_name(p)} (the default)"
    zoom = record.job_kind is JobKind.ZOOM
    origins = _ZOOM_ORIGINS if zoom else _ORIGINS
    what = "Zoom" if zoom else "Dream"
    lines = [
        f"**{what} by <@{record.user_id}>** · <t:{int(record.created_at)}:R>{origins[record.kind]}",
        f"Model: {p.model} · layer: {layers}" + _extras(p, guided=record.has_guide),
        _how(record) + (f" · {record.note}" if record.note else ""),
    ]
    if record.seconds is not None:
        lines.append(f"Dreamed in {record.seconds:.1f} s")
    elif record.state is DreamState.FAILED:
        lines.append(f"It failed: {record.error or 'unknown error'}")
    else:
        lines.append(f"It is {record.state.value}.")
    return "\n".join(lines)


def _names(permissions: list[str]) -> str:
    return ", ".join(p.replace("_", " ").replace("guild", "server") for p in permissions)


def explain(error: BaseException) -> str | None:
    """The member's message for ``error``; None for an unexpected error (a bug or an outage)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, BotError | DreamError):
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Easy there, give me {max(1, round(error.retry_after))} s before your next try."
    if isinstance(error, app_commands.BotMissingPermissions):
        return f"I need these permissions here: {_names(error.missing_permissions)}."
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need these permissions for that: {_names(error.missing_permissions)}."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in servers only."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't make sense of {error.value!r} for that option."
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return "This command changed a moment ago; please try again in a minute."
    return None


async def tell_error(
    reply: Reply, error: BaseException, *, private: bool = True, what: str = "a dream"
) -> None:
    """Tell the member what went wrong: their message if it is theirs to fix, else a logged
    apology. A restart notice replaces the public progress message; anything else is private
    unless ``private`` is False."""
    message = explain(error)
    user = reply.interaction.user.id
    if message is None:
        log.error(
            "Unexpected error answering %s for user %s",
            what,
            user,
            exc_info=(type(error), error, error.__traceback__),
        )
        message = SOMETHING_WENT_WRONG
    else:
        log.info("Refused %s for user %s: %s", what, user, message)
    try:
        await reply.refuse(f"⚠️ {message}", private=private and not isinstance(error, ShuttingDown))
    except discord.HTTPException as failure:
        log.warning("Could not tell user %s about an error: %s", user, failure)


def token_left(record: DreamRecord, *, now: datetime | None = None) -> timedelta:
    """How much longer the interaction token stored with ``record`` lives (negative: expired)."""
    if record.interaction_id is None or record.interaction_token is None:
        return -TOKEN_LIFETIME
    asked = discord.utils.snowflake_time(record.interaction_id)
    return TOKEN_LIFETIME - ((now or datetime.now(UTC)) - asked)
