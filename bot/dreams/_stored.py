"""Where a dream's answer goes: the `Origin` of an interaction, and `StoredInteraction`, the one
stand-in for an interaction rebuilt from a stored origin, so a restarted bot (or another bot
process) answers in the member's original message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.jobs import Origin
from bot.reply import TOKEN_LIFETIME, reaches_channel
from bot.storage import DreamRecord

if TYPE_CHECKING:
    from discord.ext import commands

__all__ = ["StoredInteraction", "origin_of", "postable_channel", "record_origin"]

# the interaction's first response, in the webhook routes where a message id goes
_ORIGINAL = cast(int, "@original")


def postable_channel(interaction: discord.Interaction) -> int | None:
    """The interaction's channel if the bot's own token may post there, else None: an answer
    that outlives the token then goes to the member's DMs (`Reply`)."""
    return interaction.channel_id if reaches_channel(interaction) else None


def origin_of(interaction: discord.Interaction) -> Origin:
    """Where a job's answer goes should another bot process have to send it."""
    return Origin(
        application_id=interaction.application_id,
        token=interaction.token,
        channel_id=postable_channel(interaction),
        user_id=interaction.user.id,
        created_at=interaction.created_at.timestamp(),
    )


def record_origin(application_id: int | None, record: DreamRecord) -> Origin | None:
    """The origin of a stored dream; None once its token is gone (it was answered or expired)."""
    if application_id is None or record.interaction_id is None or not record.interaction_token:
        return None
    return Origin(
        application_id=application_id,
        token=record.interaction_token,
        channel_id=record.channel_id,
        user_id=record.user_id,
        created_at=discord.utils.snowflake_time(record.interaction_id).timestamp(),
    )


@dataclass(frozen=True, slots=True)
class _Member:
    id: int

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


class _Deferred:
    """The response state of an interaction that was deferred publicly before."""

    type = discord.InteractionResponseType.deferred_channel_message

    def is_done(self) -> bool:
        return True


class StoredInteraction:
    """What `Reply` uses of a `discord.Interaction`, rebuilt from a stored origin: edits go to
    the original response through the stored token; after it expired (or without one), `Reply`
    posts in the channel, or in the member's DMs where the origin has no channel the bot may
    post in. Refuse with ``private=False`` only: it cannot send ephemeral messages."""

    type = discord.InteractionType.application_command
    guild_id = None

    def __init__(
        self,
        client: commands.Bot,
        *,
        user_id: int,
        channel_id: int | None,
        created_at: datetime,
        webhook: discord.Webhook | None,
    ) -> None:
        self.client = client
        self.channel: discord.abc.Messageable | None = None
        self.channel_id = channel_id
        # a stored channel is one the bot may post in (`postable_channel`), as in a DM with it
        self.context = discord.app_commands.AppCommandContext(dm_channel=channel_id is not None)
        self.user = _Member(user_id)
        self.response = _Deferred()
        self.created_at = created_at
        self._webhook = webhook

    @classmethod
    def from_origin(cls, client: commands.Bot, origin: Origin) -> StoredInteraction:
        return cls(
            client,
            user_id=origin.user_id,
            channel_id=origin.channel_id,
            created_at=datetime.fromtimestamp(origin.created_at, UTC),
            webhook=discord.Webhook.partial(origin.application_id, origin.token, client=client),
        )

    @classmethod
    def from_record(cls, client: commands.Bot, record: DreamRecord) -> StoredInteraction:
        origin = record_origin(client.application_id, record)
        if origin is not None:
            return cls.from_origin(client, origin)
        # no token: the reply counts as expired from the start and posts in the channel
        return cls(
            client,
            user_id=record.user_id,
            channel_id=record.channel_id,
            created_at=datetime.now(UTC) - 2 * TOKEN_LIFETIME,
            webhook=None,
        )

    def as_interaction(self) -> discord.Interaction:
        return cast("discord.Interaction", self)

    @property
    def followup(self) -> discord.Webhook:
        return self._hook()

    def _hook(self) -> discord.Webhook:
        if self._webhook is None:
            raise RuntimeError("this dream has no stored interaction token")
        return self._webhook

    async def edit_original_response(self, **fields: Any) -> discord.Message:
        return await self._hook().edit_message(_ORIGINAL, **fields)

    async def delete_original_response(self) -> None:
        await self._hook().delete_message(_ORIGINAL)
