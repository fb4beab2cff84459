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

from bot.dreams import NO_ZOOMS, gone, info_text, last_frame, tell_error
from bot.errors import CannotReadVideo, NotYours, OptionRejected
from bot.jobs import JobKind
from bot.reply import Reply
from bot.storage import DreamKind, DreamRecord
from engine import DreamParams, ZoomParams, parse_recipe, presets

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.dreams import Dreams, Rules
    from bot.dreams._service import Prepare

__all__ = ["another_layer", "deeper", "delete", "info"]


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
            await tell_error(reply, error, what=f"the {handler.__name__} control")

    return answer


async def _stored(dreams: Dreams, dream_id: str) -> DreamRecord:
    record = await dreams.store.get(dream_id)
    if record is None or record.deleted:
        raise gone(record, retention_days=dreams.retention_days)
    return record


async def _guide(dreams: Dreams, record: DreamRecord, rules: Rules) -> bytes | None:
    """The guide picture ``record`` was steered towards, kept for the dreams made from it (if
    guides are still allowed here)."""
    if not record.has_guide:
        return None
    rules.check_controls(guide=True, dream_of=False)
    guide = await dreams.store.guide_picture(record.id)
    if guide is None:
        raise gone(record, retention_days=dreams.retention_days)
    return guide


def _video(record: DreamRecord) -> CannotReadVideo | None:
    """Why a result cannot be read back to go deeper: it is an MP4 (chosen when GIF and WebP did
    not fit the upload limit)."""
    if not (record.output_filename or "").lower().endswith(".mp4"):
        return None
    if record.job_kind is JobKind.ZOOM:
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
) -> Prepare:
    """What to make of a control's picture, like the command that made ``record``: a zoom with
    its settings (within today's caps), else a dream of every frame if it moves and may."""
    if record.job_kind is not JobKind.ZOOM:
        return dreams.planner(interaction.guild_id, params, guided=record.has_guide)
    if not await dreams.animations_allowed(interaction.guild_id):
        raise OptionRejected(NO_ZOOMS)
    zoom = record.animation if isinstance(record.animation, ZoomParams) else ZoomParams()
    zoom = dataclasses.replace(
        zoom,
        frames=min(zoom.frames, dreams.bot.settings.dream_max_frames),
        steps=min(zoom.steps, params.steps),  # a server's step cap holds for each frame
    )
    return dreams.zoomer(params, zoom, guided=record.has_guide)


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
    params = rules.fit(record.params, guided=record.has_guide)
    # a still result is dreamed as a still; a moving one as the command that made it would
    moving = record.job_kind is not JobKind.DREAM
    prepare = await _prepare(dreams, interaction, record, params) if moving else None
    with dreams.once("deeper", record.id):
        output = await dreams.store.output_picture(record.id)
        if output is None:
            raise gone(record, retention_days=dreams.retention_days)
        picture: bytes | Callable[[], Awaitable[bytes]] = output
        if record.job_kind is JobKind.ZOOM:

            async def frame() -> bytes:  # after the public answer: decoding takes a moment
                return await asyncio.to_thread(last_frame, output)

            picture = frame
        await dreams.run(
            interaction,
            reply,
            rules=rules,
            params=params,
            picture=picture,
            guide=await _guide(dreams, record, rules),
            kind=DreamKind.DEEPER,
            parent=record,
            prepare=prepare,
            spoiler=record.spoiler,
        )


@_answering
async def another_layer(
    dreams: Dreams, interaction: discord.Interaction, reply: Reply, dream_id: str, layer: str
) -> None:
    """Dream the original picture of the dream again with other presets of its model, mixed
    when several were picked (``eyes+fur``); every frame of an animation; a zoom zooms into it
    again with the same settings. Its guide and class stay."""
    record = await _stored(dreams, dream_id)
    model = record.params.model
    names = {p.name for p in presets(model)}
    unknown = [term for term in layer.split("+") if term not in names]
    if unknown:
        raise OptionRejected(f"{model} has no layer preset {unknown[0]!r}.")
    mix = parse_recipe(layer, model).terms
    rules = await dreams.rules(interaction)
    params = rules.fit(dataclasses.replace(record.params, layers=mix), guided=record.has_guide)
    prepare = await _prepare(dreams, interaction, record, params)
    with dreams.once("layer", record.id, *mix):
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
            guide=await _guide(dreams, record, rules),
            kind=DreamKind.LAYER,
            parent=record,
            prepare=prepare,
            spoiler=record.spoiler,
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
    # Through the click's own webhook, not the bot's token: that works where the bot is not a
    # member (a user install elsewhere, a group DM) and on ephemeral results. After a deferred
    # update, the click's "original response" is the message the control is on.
    await interaction.response.defer()
    with contextlib.suppress(discord.NotFound):
        await interaction.delete_original_response()
    if record is not None:
        await dreams.store.delete(record.id)
    await interaction.followup.send("🗑️ Deleted.", ephemeral=True)
