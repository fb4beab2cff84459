"""What the result controls do: Dream deeper and Another layer start a new dream through the same
queue and limits as /dream, answered like it; Info shows how a dream was made; Delete removes it.
On moving results: an animation is dreamed again frame by frame; a zoom goes on from its last
frame (Dream deeper) or zooms into the original picture again (Another layer)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

import discord

from bot.animation import (
    DREAM,
    NO_ZOOMS,
    ZOOM,
    JobPlan,
    animations_allowed,
    last_frame,
    planner,
    zoomer,
)
from bot.cogs.results._answers import gone, info_text, tell_error
from bot.errors import BotError, OptionRejected
from bot.reply import Reply
from bot.storage import DreamKind, DreamRecord
from engine import DreamParams, ZoomParams, presets

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.cogs.results._pipeline import Dreams

__all__ = ["another_layer", "deeper", "delete", "info"]


class NotYours(BotError):
    """Someone else's dream, and no right to manage messages here."""


class CannotReadVideo(BotError):
    """The result is an MP4 video, which the bot writes but cannot read back."""


Handler = Callable[..., Awaitable[None]]


def _answering(handler: Handler) -> Handler:
    """Run a control's handler as an answer in flight; its errors become messages, as for a
    command (component interactions do not reach the command tree's error handler)."""

    @functools.wraps(handler)
    async def answer(interaction: discord.Interaction, *args: str) -> None:
        bot = cast("DreamBot", interaction.client)
        bot.track_current_task()
        reply = Reply(interaction)
        try:
            await handler(bot.dreams, interaction, reply, *args)
        except Exception as error:
            await tell_error(reply, error)

    return answer


async def _stored(dreams: Dreams, dream_id: str) -> DreamRecord:
    record = await dreams.store.get(dream_id)
    if record is None or record.deleted:
        raise gone(record, retention_days=dreams.retention_days)
    return record


def _video(record: DreamRecord) -> CannotReadVideo | None:
    """Why a result cannot be read back to go deeper: it is an MP4 (chosen when GIF and WebP did
    not fit the upload limit)."""
    if not (record.output_filename or "").lower().endswith(".mp4"):
        return None
    if record.job_kind == ZOOM:
        return CannotReadVideo(
            "This zoom came out as an MP4 video, and I can't read videos back to zoom on from "
            "its last frame. Another layer still works: it zooms into your original picture."
        )
    return CannotReadVideo(
        "This result came out as an MP4 video, and I can't read videos back to dream them "
        "deeper. Another layer still works: it dreams your original animation again."
    )


async def _prepare(
    dreams: Dreams, interaction: discord.Interaction, record: DreamRecord, params: DreamParams
) -> Callable[[bytes], Awaitable[JobPlan]]:
    """What to make of a control's picture, like the command that made ``record``: a zoom with
    its settings (within today's caps), else a dream of every frame if it moves and may."""
    bot = dreams.bot
    if record.job_kind != ZOOM:
        return planner(bot, interaction.guild_id, params)
    if not await animations_allowed(bot, interaction.guild_id):
        raise OptionRejected(NO_ZOOMS)
    zoom = ZoomParams(**(record.animation or {}))
    zoom = dataclasses.replace(
        zoom,
        frames=min(zoom.frames, bot.settings.dream_max_frames),
        steps=min(zoom.steps, params.steps),  # a server's step cap holds for each frame
    )
    return zoomer(bot.settings, params, zoom)


@_answering
async def deeper(
    dreams: Dreams, interaction: discord.Interaction, reply: Reply, dream_id: str
) -> None:
    """Dream the result again with the same settings: the output becomes the input. Every frame
    of an animation is dreamed again; a zoom zooms on from its last frame, the same way."""
    record = await _stored(dreams, dream_id)
    if (video := _video(record)) is not None:
        raise video
    rules = await dreams.rules(interaction)
    params = rules.fit(record.params)
    # a still result is dreamed as a still; a moving one as the command that made it would
    moving = record.job_kind != DREAM
    prepare = await _prepare(dreams, interaction, record, params) if moving else None
    with dreams.once("deeper", record.id):
        output = await dreams.store.output_picture(record.id)
        if output is None:
            raise gone(record, retention_days=dreams.retention_days)
        picture: bytes | Callable[[], Awaitable[bytes]] = output
        if record.job_kind == ZOOM:

            async def frame() -> bytes:  # after the public answer: decoding takes a moment
                return await asyncio.to_thread(last_frame, output)

            picture = frame
        await dreams.run(
            interaction,
            reply,
            rules=rules,
            params=params,
            picture=picture,
            kind=DreamKind.DEEPER,
            parent=record,
            prepare=prepare,
        )


@_answering
async def another_layer(
    dreams: Dreams, interaction: discord.Interaction, reply: Reply, dream_id: str, layer: str
) -> None:
    """Dream the original picture of the dream again with another preset of its model (every
    frame of an animation; a zoom zooms into it again with the same settings)."""
    record = await _stored(dreams, dream_id)
    if layer not in {p.name for p in presets(record.params.model)}:
        raise OptionRejected(f"{record.params.model} has no layer preset {layer!r}.")
    rules = await dreams.rules(interaction)
    params = rules.fit(dataclasses.replace(record.params, layers=(layer,)))
    prepare = await _prepare(dreams, interaction, record, params)
    with dreams.once("layer", record.id, layer):
        picture = await dreams.store.input_picture(record.origin_id)
        if picture is None:
            origin = await dreams.store.get(record.origin_id)
            raise gone(origin, retention_days=dreams.retention_days)
        await dreams.run(
            interaction,
            reply,
            rules=rules,
            params=params,
            picture=picture,
            kind=DreamKind.LAYER,
            parent=record,
            prepare=prepare,
        )


@_answering
async def info(
    dreams: Dreams, interaction: discord.Interaction, reply: Reply, dream_id: str
) -> None:
    """How the dream was made, for the member who asks only."""
    record = await dreams.store.get(dream_id)
    if record is None:
        raise gone(None, retention_days=dreams.retention_days)
    await interaction.response.send_message(info_text(record), ephemeral=True)


@_answering
async def delete(
    dreams: Dreams, interaction: discord.Interaction, reply: Reply, dream_id: str
) -> None:
    """Delete the result message and its pictures: its member, or a message manager, only."""
    record = await dreams.store.get(dream_id)
    mine = record is not None and record.user_id == interaction.user.id
    if not mine and not interaction.permissions.manage_messages:
        owner = f"<@{record.user_id}>" if record is not None else "the member who asked for it"
        raise NotYours(
            f"Only {owner}, who asked for this dream, or someone who may manage messages here "
            "can delete it."
        )
    await interaction.response.defer(ephemeral=True, thinking=True)
    if interaction.message is not None:
        with contextlib.suppress(discord.NotFound):
            await interaction.message.delete()
    if record is not None:
        await dreams.store.delete(record.id)
    await interaction.edit_original_response(content="🗑️ Deleted.")
