"""Tests for bot/dreams/_stored.py: a dream's stored origin answers where its interaction would."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import discord

from bot.dreams._stored import StoredInteraction, postable_channel
from bot.reply import Reply


def _stored(channel_id: int | None) -> StoredInteraction:
    client: Any = SimpleNamespace()
    return StoredInteraction(
        client, user_id=7, channel_id=channel_id, created_at=datetime.now(UTC), webhook=None
    )


def test_a_stored_channel_takes_late_answers_and_none_means_the_members_dms() -> None:
    """A restarted bot (or another process) posts a late answer in the stored channel; a dream
    asked where the bot could not post was stored without one, and goes to the member's DMs."""
    assert Reply(_stored(5).as_interaction()).to_channel
    assert not Reply(_stored(None).as_interaction()).to_channel


def test_only_a_channel_the_bot_may_post_in_is_stored() -> None:
    """The channel of a server that installed the bot is kept; someone else's server's is not."""
    interaction: Any = SimpleNamespace(
        channel_id=5,
        guild_id=3,
        context=discord.app_commands.AppCommandContext(guild=True),
        is_guild_integration=lambda: True,
        is_user_integration=lambda: False,
    )
    assert postable_channel(interaction) == 5
    interaction.is_guild_integration = lambda: False
    interaction.is_user_integration = lambda: True
    assert postable_channel(interaction) is None
