"""Answers for jobs this bot process took over from a stopped one (Celery backend): the same
progress edits and final message as `/dream`, sent through the interaction's webhook."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

import discord
from discord.utils import MISSING

from bot.cogs.errors import SOMETHING_WENT_WRONG
from bot.errors import BotError, ShuttingDown
from bot.jobs import Job, JobState, Origin
from bot.progress import Throttle, status_text
from bot.reply import Reply
from bot.summary import summary as result_line
from engine import DreamError

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = ["answer_resumed", "origin_of", "summary"]

log = logging.getLogger(__name__)


def origin_of(interaction: discord.Interaction) -> Origin:
    """Where a job's answer goes should another bot process have to send it."""
    return Origin(
        application_id=interaction.application_id,
        token=interaction.token,
        channel_id=interaction.channel_id,
        user_id=interaction.user.id,
        created_at=interaction.created_at.timestamp(),
    )


def summary(job: Job, seconds: float) -> str:
    """The final message's text, as `/dream` (or `/dream-zoom`) writes it."""
    request = job.request
    return result_line(request.params, seconds, kind=request.kind, animation=request.animation)


class _Member:
    def __init__(self, user_id: int) -> None:
        self.id = user_id
        self.mention = f"<@{user_id}>"


class _Response:
    type = discord.InteractionResponseType.deferred_channel_message

    def is_done(self) -> bool:
        return True


class _DeferredInteraction:
    """What `Reply` uses of an interaction, rebuilt from an `Origin` (the deferral is done)."""

    type = discord.InteractionType.application_command

    def __init__(self, bot: DreamBot, origin: Origin) -> None:
        self.client = bot
        self.channel = None
        self.channel_id = origin.channel_id
        self.user = _Member(origin.user_id)
        self.created_at = datetime.fromtimestamp(origin.created_at, UTC)
        self.response = _Response()
        self.followup = discord.Webhook.from_state(
            data={"id": origin.application_id, "type": 3, "token": origin.token},
            state=bot._connection,
        )

    async def edit_original_response(
        self, *, content: str | None = None, attachments: Sequence[discord.File] = MISSING
    ) -> None:
        # the route takes "@original" where a message id goes
        await self.followup.edit_message(  # type: ignore[call-overload]
            "@original", content=content, attachments=attachments
        )

    async def delete_original_response(self) -> None:
        await self.followup.delete_message("@original")  # type: ignore[arg-type]


async def answer_resumed(bot: DreamBot, job: Job) -> None:
    """Follow a taken-over job to its end and answer its member, as `/dream` would have."""
    bot.track_current_task()
    origin = job.request.origin
    if origin is None:
        log.info("%r has nobody to answer; following it only", job)
        with contextlib.suppress(Exception):
            await job.result()
        return
    reply = Reply(cast("discord.Interaction", _DeferredInteraction(bot, origin)))
    throttle, shown = Throttle(), None
    try:
        async for status in job.watch():
            if status.finished:
                break
            text = status_text(status)
            steady = status.state is JobState.RUNNING and status.progress is not None
            if text != shown and throttle.ready(force=not steady):
                await reply.update(text)
                shown = text
        result = await job.result()
    except (BotError, DreamError) as error:
        private = not isinstance(error, ShuttingDown)
        await reply.refuse(f"⚠️ {error}", private=private)
        return
    except Exception:
        log.exception("Taken-over %r failed unexpectedly", job)
        await reply.refuse(f"⚠️ {SOMETHING_WENT_WRONG}")
        return
    await reply.finish(
        summary(job, result.seconds), picture=(result.picture.data, result.picture.filename)
    )
