"""Tests for bot/reply.py: edits while the interaction token lives, the channel after it."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.reply import MESSAGE_LIMIT, Reply


def http_error(status: int) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="nope")
    kind = discord.NotFound if status == 404 else discord.HTTPException
    return kind(response, {"code": 0, "message": "nope"})  # type: ignore[arg-type]


class Channel:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, content: str, **kwargs: Any) -> None:
        self.sent.append({"content": content, **kwargs})


class Response:
    def __init__(self, kind: discord.InteractionResponseType | None = None) -> None:
        self.type = kind
        self.sent: list[tuple[str, bool]] = []

    def is_done(self) -> bool:
        return self.type is not None

    async def send_message(self, content: str, *, ephemeral: bool = False) -> None:
        self.sent.append((content, ephemeral))
        self.type = discord.InteractionResponseType.channel_message


class Interaction:
    """Just what Reply touches of a discord.Interaction."""

    def __init__(
        self, *, age: timedelta = timedelta(0), fail_edits_with: int | None = None
    ) -> None:
        self.created_at = discord.utils.utcnow() - age
        self.type = discord.InteractionType.application_command
        self.response = Response(discord.InteractionResponseType.deferred_channel_message)
        self.channel = None  # not cached: the reply falls back to a partial messageable
        self.posted = Channel()
        self.client = SimpleNamespace(get_partial_messageable=lambda channel_id: self.posted)
        self.channel_id = 5
        self.user = SimpleNamespace(id=7, mention="<@7>")
        self.edits: list[dict[str, Any]] = []
        self.fail_edits_with = fail_edits_with

        self.deleted = False
        self.followups: list[tuple[str, bool]] = []
        self.followup = SimpleNamespace(send=self._followup)

    async def _followup(self, content: str, *, ephemeral: bool = False) -> None:
        self.followups.append((content, ephemeral))

    async def delete_original_response(self) -> None:
        if self.fail_edits_with:
            raise http_error(self.fail_edits_with)
        self.deleted = True

    async def edit_original_response(self, **kwargs: Any) -> None:
        if self.fail_edits_with:
            raise http_error(self.fail_edits_with)
        self.edits.append(kwargs)


def reply_for(interaction: Interaction, clock: list[float]) -> Reply:
    return Reply(interaction, clock=lambda: clock[0])  # type: ignore[arg-type]


async def test_edits_the_deferred_message_while_the_token_lives() -> None:
    """Progress and the result edit the original response, the picture attached."""
    interaction, clock = Interaction(), [0.0]
    reply = reply_for(interaction, clock)
    await reply.update("position 2")
    await reply.finish("done", picture=(b"png", "dream.png"))
    assert interaction.edits[0] == {"content": "position 2"}
    assert interaction.edits[1]["content"] == "done"
    assert interaction.edits[1]["attachments"][0].filename == "dream.png"
    assert not interaction.posted.sent


async def test_after_15_minutes_the_result_goes_to_the_channel_with_a_mention() -> None:
    """Once the token expired, updates stop and the result is posted mentioning the member."""
    interaction, clock = Interaction(age=timedelta(minutes=5)), [0.0]
    reply = reply_for(interaction, clock)
    clock[0] = 9 * 60  # 14 minutes after the interaction
    assert not reply.expired
    clock[0] = 10 * 60
    assert reply.expired
    await reply.update("step 3")
    await reply.finish("done", picture=(b"png", "dream.png"))
    assert interaction.edits == []
    [message] = interaction.posted.sent
    assert message["content"] == "<@7> done"
    assert message["file"].filename == "dream.png"
    assert message["allowed_mentions"].users == [interaction.user]


@pytest.mark.parametrize("status", [401, 404])
async def test_a_rejected_token_falls_back_to_the_channel(status: int) -> None:
    """A 401/404 from the webhook edit marks the token dead and posts in the channel instead."""
    interaction, clock = Interaction(fail_edits_with=status), [0.0]
    reply = reply_for(interaction, clock)
    await reply.update("step 1")
    assert reply.expired
    await reply.finish("done", picture=(b"png", "dream.png"))
    assert interaction.posted.sent[0]["content"] == "<@7> done"


async def test_other_http_errors_on_the_result_propagate() -> None:
    """A server error on the final edit is raised (the error handler logs it), not hidden."""
    interaction, clock = Interaction(fail_edits_with=500), [0.0]
    reply = reply_for(interaction, clock)
    await reply.update("step 1")  # a failed progress edit is only logged
    with pytest.raises(discord.HTTPException):
        await reply.finish("done")


async def test_refuse_is_ephemeral_before_any_response() -> None:
    """Before the interaction was answered, a refusal is an ephemeral message."""
    interaction, clock = Interaction(), [0.0]
    interaction.response = Response(None)
    await reply_for(interaction, clock).refuse("no")
    assert interaction.response.sent == [("no", True)]


async def test_refuse_after_defer_is_private() -> None:
    """After a public defer, a refusal deletes the thinking message and follows up ephemerally."""
    interaction, clock = Interaction(), [0.0]
    await reply_for(interaction, clock).refuse("no")
    assert interaction.deleted and interaction.followups == [("no", True)]
    assert interaction.edits == [] and interaction.posted.sent == []


async def test_refuse_after_the_token_expired_mentions_in_the_channel() -> None:
    """A refusal after the token expired is posted in the channel, mentioning the member."""
    interaction, clock = Interaction(age=timedelta(minutes=15)), [0.0]
    await reply_for(interaction, clock).refuse("no")
    assert interaction.posted.sent[0]["content"] == "<@7> no"
    assert not interaction.deleted and interaction.followups == []


async def test_long_messages_are_cut_to_discords_limit() -> None:
    """A message longer than 2000 characters (a long engine error) is cut, not rejected."""
    interaction, clock = Interaction(), [0.0]
    await reply_for(interaction, clock).refuse("x" * 5000)
    content = interaction.followups[0][0]
    assert len(content) == MESSAGE_LIMIT and content.endswith("…")


async def test_a_public_notice_replaces_the_deferred_message() -> None:
    """refuse(private=False) after a defer edits the deferred message (e.g. a restart notice)."""
    interaction, clock = Interaction(), [0.0]
    await reply_for(interaction, clock).refuse("restarting", private=False)
    assert interaction.edits == [{"content": "restarting", "attachments": []}]
    assert not interaction.deleted and interaction.followups == []
