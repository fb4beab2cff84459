"""What members read about dreams (the result line, Info, the retention notice), the one way a
result control or a resumed dream reports an error, and an interaction rebuilt from a stored
token so a restarted bot can still answer in the original message."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.animation import ANIMATED, ZOOM
from bot.cogs.errors import SOMETHING_WENT_WRONG, explain
from bot.errors import BotError, ShuttingDown
from bot.reply import TOKEN_LIFETIME, Reply
from bot.storage import DreamKind, DreamRecord, DreamState
from bot.summary import count, layer_name, summary
from engine import ZoomParams

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = [
    "Gone",
    "StoredInteraction",
    "count",
    "gone",
    "info_text",
    "kept_for",
    "summary",
    "tell_error",
    "token_left",
]

log = logging.getLogger(__name__)


class Gone(BotError):
    """The dream, or the picture a control needs, is no longer stored."""


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
    if record.job_kind == ZOOM:
        zoom = ZoomParams(**(record.animation or {}))
        turn = f", turning {zoom.rotate:g}° a frame" if zoom.rotate else ""
        return (
            f"Zoom: {count(zoom.frames, 'frame')}, {zoom.zoom * 100:g}% closer each{turn}"
            f" · {count(zoom.steps, 'step')} a frame · seed {p.seed} · at most {p.max_side} px"
        )
    line = (
        f"{count(p.steps, 'step')} × {count(p.octaves, 'octave')} · strength {p.strength:g}"
        f" · seed {p.seed} · at most {p.max_side} px"
    )
    if record.job_kind == ANIMATED:
        line += " · every frame of an animation"
    return line


def info_text(record: DreamRecord) -> str:
    """Everything about how a dream was made, for the Info button."""
    p = record.params
    layers = ", ".join(p.layers) if p.layers else f"{layer_name(p)} (the default)"
    origins = _ZOOM_ORIGINS if record.job_kind == ZOOM else _ORIGINS
    what = "Zoom" if record.job_kind == ZOOM else "Dream"
    lines = [
        f"**{what} by <@{record.user_id}>** · <t:{int(record.created_at)}:R>{origins[record.kind]}",
        f"Model: {p.model} · layer: {layers}",
        _how(record) + (f" · {record.note}" if record.note else ""),
    ]
    if record.seconds is not None:
        lines.append(f"Dreamed in {record.seconds:.1f} s")
    elif record.state is DreamState.FAILED:
        lines.append(f"It failed: {record.error or 'unknown error'}")
    else:
        lines.append(f"It is {record.state.value}.")
    return "\n".join(lines)


async def tell_error(reply: Reply, error: Exception, *, private: bool = True) -> None:
    """Tell the member what went wrong, like the command error handler does."""
    message = explain(error)
    if message is None:
        log.error("Unexpected error answering a dream", exc_info=error)
        message = SOMETHING_WENT_WRONG
    else:
        log.info("Refused for user %s: %s", reply.interaction.user.id, message)
    try:
        # a restart notice replaces the public progress message; anything else is private
        await reply.refuse(f"⚠️ {message}", private=private and not isinstance(error, ShuttingDown))
    except discord.HTTPException as failure:
        log.warning("Could not tell user %s about an error: %s", reply.interaction.user.id, failure)


def token_left(record: DreamRecord, *, now: datetime | None = None) -> timedelta:
    """How much longer the interaction token stored with ``record`` lives (negative: expired)."""
    if record.interaction_id is None or record.interaction_token is None:
        return -TOKEN_LIFETIME
    asked = discord.utils.snowflake_time(record.interaction_id)
    return TOKEN_LIFETIME - ((now or datetime.now(UTC)) - asked)


# the interaction's first response, in the webhook routes where a message id goes
_ORIGINAL = cast(int, "@original")


@dataclass(frozen=True, slots=True)
class _Member:
    id: int

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


class _Deferred:
    """The response state of an interaction that was deferred publicly before the restart."""

    type = discord.InteractionResponseType.deferred_channel_message

    def is_done(self) -> bool:
        return True


class StoredInteraction:
    """What `Reply` uses of a `discord.Interaction`, rebuilt from a stored dream after a restart:
    edits go to the original response through the stored token; after it expired, Reply posts
    in the channel. Refuse with ``private=False`` only: it cannot send ephemeral messages."""

    type = discord.InteractionType.application_command

    def __init__(self, bot: DreamBot, record: DreamRecord) -> None:
        self.client = bot
        self.channel: discord.abc.Messageable | None = None
        self.channel_id = record.channel_id
        self.user = _Member(record.user_id)
        self.response = _Deferred()
        self.created_at = datetime.now(UTC) - (TOKEN_LIFETIME - token_left(record))
        self._webhook: discord.Webhook | None = None
        if bot.application_id is not None and record.interaction_token:
            self._webhook = discord.Webhook.partial(
                bot.application_id, record.interaction_token, client=bot
            )

    def _hook(self) -> discord.Webhook:
        # without a token the reply counts as expired and never edits
        if self._webhook is None:
            raise RuntimeError("this dream has no stored interaction token")
        return self._webhook

    async def edit_original_response(self, **fields: Any) -> discord.Message:
        return await self._hook().edit_message(_ORIGINAL, **fields)

    async def delete_original_response(self) -> None:
        await self._hook().delete_message(_ORIGINAL)
