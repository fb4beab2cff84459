"""What the result controls do: Dream deeper and Another layer start a new dream through the same
queue and limits as /dream, answered like it; Info shows how a dream was made; Delete removes it."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

import discord

from bot.cogs.results._answers import gone, info_text, tell_error
from bot.errors import BotError, OptionRejected
from bot.reply import Reply
from bot.storage import DreamKind, DreamRecord
from engine import presets

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.cogs.results._pipeline import Dreams

__all__ = ["another_layer", "deeper", "delete", "info"]


class NotYours(BotError):
    """Someone else's dream, and no right to manage messages here."""


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


@_answering
async def deeper(
    dreams: Dreams, interaction: discord.Interaction, reply: Reply, dream_id: str
) -> None:
    """Dream the result again with the same settings: the output becomes the input."""
    record = await _stored(dreams, dream_id)
    rules = await dreams.rules(interaction)
    params = rules.fit(record.params)
    with dreams.once("deeper", record.id):
        picture = await dreams.store.output_picture(record.id)
        if picture is None:
            raise gone(record, retention_days=dreams.retention_days)
        await dreams.run(
            interaction,
            reply,
            rules=rules,
            params=params,
            picture=picture,
            kind=DreamKind.DEEPER,
            parent=record,
        )


@_answering
async def another_layer(
    dreams: Dreams, interaction: discord.Interaction, reply: Reply, dream_id: str, layer: str
) -> None:
    """Dream the original picture of the dream again with another preset of its model."""
    record = await _stored(dreams, dream_id)
    if layer not in {p.name for p in presets(record.params.model)}:
        raise OptionRejected(f"{record.params.model} has no layer preset {layer!r}.")
    rules = await dreams.rules(interaction)
    params = rules.fit(dataclasses.replace(record.params, layers=(layer,)))
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
