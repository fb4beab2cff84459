"""Tests for bot/reply.py: edits while the interaction token lives, the channel after it."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.reply import MESSAGE_LIMIT, Reply, reaches_channel


def http_error(status: int) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="nope")
    kind = discord.NotFound if status == 404 else discord.HTTPException
    return kind(response, {"code": 0, "message": "nope"})  # type: ignore[arg-type]


class Channel:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, content: str | None = None, **kwargs: Any) -> None:
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
        self.direct = Channel()
        self.client = SimpleNamespace(
            get_partial_messageable=lambda channel_id: self.posted, create_dm=self._open_dm
        )
        self.channel_id = 5
        self.guild_id: int | None = 3
        self.installed_here = True  # the server installed the bot (it is a member there)
        self.context = discord.app_commands.AppCommandContext(guild=True)
        self.user = SimpleNamespace(id=7, mention="<@7>")
        self.edits: list[dict[str, Any]] = []
        self.fail_edits_with = fail_edits_with

        self.deleted = False
        self.followups: list[tuple[str, bool]] = []
        self.followup = SimpleNamespace(send=self._followup)

    def is_guild_integration(self) -> bool:
        return self.installed_here

    def is_user_integration(self) -> bool:
        return not self.installed_here  # installed to the member's account instead

    async def _open_dm(self, user: discord.abc.Snowflake) -> Channel:
        assert user.id == self.user.id
        return self.direct

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
    await reply.finish("done", pictures=[(b"png", "dream.png")])
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
    await reply.finish("done", pictures=[(b"png", "dream.png")])
    assert interaction.edits == []
    [message] = interaction.posted.sent
    assert message["content"] == "<@7> done"
    assert message["files"][0].filename == "dream.png"
    assert message["allowed_mentions"].users == [interaction.user]


@pytest.mark.parametrize("status", [401, 404])
async def test_a_rejected_token_falls_back_to_the_channel(status: int) -> None:
    """A 401/404 from the webhook edit marks the token dead and posts in the channel instead."""
    interaction, clock = Interaction(fail_edits_with=status), [0.0]
    reply = reply_for(interaction, clock)
    await reply.update("step 1")
    assert reply.expired
    await reply.finish("done", pictures=[(b"png", "dream.png")])
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


def test_the_bots_token_reaches_servers_that_installed_it_and_its_own_dm_only() -> None:
    """A server with the bot and the DM with the bot can take a late answer; someone else's
    server (an account install) and a group DM cannot."""
    interaction = Interaction()
    assert reaches_channel(interaction)  # type: ignore[arg-type]
    interaction.installed_here = False
    assert not reaches_channel(interaction)  # type: ignore[arg-type]
    # an interaction naming no installation (before account installs): the server's own
    interaction.is_user_integration = lambda: False  # type: ignore[method-assign]
    assert reaches_channel(interaction)  # type: ignore[arg-type]
    del interaction.is_user_integration
    interaction.guild_id = None
    interaction.context = discord.app_commands.AppCommandContext(dm_channel=True)
    assert reaches_channel(interaction)  # type: ignore[arg-type]
    interaction.context = discord.app_commands.AppCommandContext(private_channel=True)
    assert not reaches_channel(interaction)  # type: ignore[arg-type]


async def test_where_the_bot_cannot_post_a_late_result_goes_to_the_members_dms() -> None:
    """In a server that did not install the bot, a result after the token is sent to the
    member directly; the notice rides on every passing state meanwhile."""
    interaction, clock = Interaction(), [0.0]
    interaction.installed_here = False
    reply = reply_for(interaction, clock)
    assert not reply.to_channel and reply.seconds_left > 14 * 60
    reply.notice = "to your DMs"
    await reply.update("position 2")
    assert interaction.edits == [{"content": "position 2\nto your DMs"}]
    clock[0] = 15 * 60
    assert reply.seconds_left == 0
    await reply.finish("done", pictures=[(b"png", "dream.png")])
    assert interaction.posted.sent == []
    [message] = interaction.direct.sent
    assert message["content"].endswith("done") and message["files"][0].filename == "dream.png"


def _card(*texts: str) -> discord.ui.LayoutView:
    layout = discord.ui.LayoutView(timeout=None)
    for text in texts:
        layout.add_item(discord.ui.TextDisplay(text))
    return layout


async def test_a_card_replaces_the_progress_text() -> None:
    """A card (components V2) is the final edit with its text cleared and its pictures attached."""
    interaction, clock = Interaction(), [0.0]
    reply = reply_for(interaction, clock)
    await reply.update("step 3")
    card = _card("🌀 done", "Dreamed for <@7>")
    await reply.finish(card, pictures=[(b"png", "dream.png"), (b"jpg", "original.jpg")])
    final = interaction.edits[-1]
    assert final["content"] is None and final["view"] is card
    assert [f.filename for f in final["attachments"]] == ["dream.png", "original.jpg"]


async def test_a_late_card_goes_to_the_channel_naming_the_member() -> None:
    """After the token, the card is posted without content; the member it names may be pinged,
    and a card that does not name them gets a line that does."""
    for texts, added in ((("🌀 done", "Dreamed for <@7>"), False), (("🌀 done",), True)):
        interaction, clock = Interaction(age=timedelta(minutes=15)), [0.0]
        card = _card(*texts)
        await reply_for(interaction, clock).finish(card, pictures=[(b"png", "dream.png")])
        [message] = interaction.posted.sent
        assert message["content"] is None and message["view"] is card
        assert message["allowed_mentions"].users == [interaction.user]
        assert message["files"][0].filename == "dream.png"
        shown = [c.content for c in card.children if isinstance(c, discord.ui.TextDisplay)]
        assert shown == [*texts, "<@7>"] if added else shown == list(texts)
