"""End to end: the app installed to a member's account, used where the bot is not a member (its
token gets 403 50001 there, only the interaction's webhook answers), in the DM with the bot and
in group DMs; the follow-up cap, Delete through the webhook, forced ephemeral answers, the
15-minute token without a channel to fall back on, and the bot-wide rules where no server's
apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from bot.dreams import TO_DMS
from bot.storage import DreamState, ServerSettings
from tests.bot.conftest import GatedRunner, picture_bytes
from tests.bot.support.fake_discord import (
    FOLLOWUP_CAP,
    FakeUser,
    Recorded,
    SentInteraction,
    final_edit,
    snowflake,
)
from tests.bot.support.results_fake import ResultsFake

DEFERRED, MESSAGE, DEFERRED_UPDATE, EPHEMERAL = 5, 4, 6, 64
GUILD, USER = 0, 1  # integration types
IN_GUILD, BOT_DM, PRIVATE_CHANNEL = 0, 1, 2  # contexts


def _bot_token_requests(fake: ResultsFake, since: float = 0.0) -> list[Recorded]:
    """Requests the bot made with its own token to channels or servers (not its webhooks)."""
    return fake.find(lambda r: r.time >= since and r.route.startswith(("/channels/", "/guilds/")))


def _followups(fake: ResultsFake, sent: SentInteraction) -> list[Recorded]:
    hook = f"/webhooks/{fake.application_id}/{sent.token}"
    return fake.find(lambda r: r.method == "POST" and r.route == hook)


async def _dream(
    fake: ResultsFake, user: FakeUser, photo: bytes, where: str, **extra: Any
) -> SentInteraction:
    attachment = fake.add_attachment(photo, filename="cat.png")
    options = {"steps": 1, "octaves": 1}
    return await fake.send_command(
        "dream", options, user=user, attachments={"image": attachment}, where=where, **extra
    )


async def test_commands_install_to_accounts_and_work_everywhere_but_settings(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """Every member command installs to a server and to an account and works in servers, the
    bot's DM and group DMs; /dream-settings stays a server's, in the server."""
    async with start_bot(runner=GatedRunner()):
        (put,) = fake.find(lambda r: r.method == "PUT" and r.route.endswith("/commands"))
        commands = {c["name"]: c for c in put.json}
        for name in (
            "dream",
            "Dream this image",
            "dream-zoom",
            "layers",
            "dream-queue",
            "dream-history",
        ):
            assert sorted(commands[name]["integration_types"]) == [GUILD, USER], name
            assert sorted(commands[name]["contexts"]) == [IN_GUILD, BOT_DM, PRIVATE_CHANNEL], name
        assert commands["dream-settings"]["integration_types"] == [GUILD]
        assert commands["dream-settings"]["contexts"] == [IN_GUILD]


@pytest.mark.parametrize("where", ["foreign", "group"])
async def test_where_the_bot_is_no_member_everything_goes_through_the_webhook(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes, where: str
) -> None:
    """In someone else's server or a group DM, the queue position, the progress, the result,
    its controls and Delete all reach the member through the interactions' webhooks, within the
    follow-up cap; the bot's own token is never used there."""
    runner = GatedRunner(hold=True, steps=6)
    async with start_bot(runner=runner) as bot:
        started = fake.requests[-1].time
        alice = fake.add_member("alice")
        bob = fake.add_member("bob")
        first = await _dream(fake, bob, cat_photo, where)  # holds the engine
        sent = await _dream(fake, alice, cat_photo, where)
        await fake.wait_for(
            lambda r: r.method == "PATCH" and sent.token in r.path and "next" in (r.content or "")
        )
        # the held dream shows it is being dreamed, the next one its place in the queue
        await fake.wait_for(
            lambda r: (
                r.method == "PATCH"
                and first.token in r.path
                and "Dreaming" in (r.content or "")
                and r.status == 200
            )
        )
        runner.gate.set()
        await fake.wait_for(final_edit(fake, first), timeout=60)
        final = await fake.wait_for(final_edit(fake, sent), timeout=60)
        assert final.status == 200
        assert any("queue" in (e.content or "") for e in fake.edits(sent))
        assert len(_followups(fake, sent)) <= FOLLOWUP_CAP

        guild = fake.foreign_guild_id if where == "foreign" else None
        (record,) = await bot.dreams.store.history(guild_id=guild, user_id=alice.id)
        assert record.message_id == sent.original_message_id
        result = sent.original_message_id
        assert result is not None
        deeper = await fake.click(result, "deeper", user=alice, where=where)
        assert (await fake.wait_callback(deeper)).json["type"] == DEFERRED
        await fake.wait_for(final_edit(fake, deeper), timeout=60)

        removed = await fake.click(result, "delete", user=alice, where=where)
        await fake.wait_until(lambda: result not in fake.messages)
        assert (await fake.wait_callback(removed)).json["type"] == DEFERRED_UPDATE
        await fake.wait_until(lambda: bool(_followups(fake, removed)))
        (confirmation,) = _followups(fake, removed)
        assert confirmation.status == 200 and confirmation.flags & EPHEMERAL
        assert "Deleted" in (confirmation.content or "")

        assert not [r for r in _bot_token_requests(fake, started) if r.status == 200]


async def test_the_follow_up_cap_is_discords(fake: ResultsFake) -> None:
    """The fake refuses a sixth follow-up of an interaction of an account-installed app where
    the bot is not installed, as Discord does (40094), and not in a server that installed it."""
    import aiohttp

    user = fake.add_member("carol")
    for where, capped in (("foreign", True), ("server", False)):
        context = fake._context_payload(where, user)
        sent = SentInteraction(
            id=snowflake(),
            token=f"tok.{where}",
            type=2,
            name="dream",
            user=user,
            payload=context,
            acknowledged=True,
            user_install_only="0" not in context["authorizing_integration_owners"],
        )
        fake.interactions[sent.id] = sent
        url = f"{fake.api_base}/webhooks/{fake.application_id}/{sent.token}"
        async with aiohttp.ClientSession() as http:
            statuses = []
            for n in range(FOLLOWUP_CAP + 1):
                async with http.post(url, json={"content": f"hi {n}"}) as answer:
                    statuses.append((answer.status, (await answer.json()).get("code")))
        expected = (400, 40094) if capped else (200, None)
        assert statuses[-1] == expected, (where, statuses)
        assert all(status == 200 for status, _ in statuses[:-1])


async def test_dreams_in_the_dm_with_the_bot_follow_the_bots_own_rules(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """In the bot's DM, no server's /dream-settings apply: the bot-wide defaults and caps do.
    The dream is answered in the DM, and its record has no server."""
    runner = GatedRunner()
    async with start_bot(runner=runner) as bot:
        await bot.dreams.save_server_settings(fake.guild_id, ServerSettings(max_steps=2), by=None)
        alice = fake.add_member("alice")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command(
            "dream", {"steps": 9}, user=alice, attachments={"image": photo}, where="dm"
        )
        assert (await fake.wait_callback(sent)).json["type"] == DEFERRED
        await fake.wait_for(final_edit(fake, sent), timeout=60)
        assert runner.requests[-1].params.steps == 9
        refused = await fake.send_command(
            "dream", {"steps": 9}, user=alice, attachments={"image": photo}, where="server"
        )
        callback = await fake.wait_callback(refused)
        assert callback.json["type"] == MESSAGE and "at most 2 steps" in (callback.content or "")
        (record,) = await bot.dreams.store.history(guild_id=None, user_id=alice.id)
        assert record.guild_id is None and record.params.steps == 9


async def test_a_members_limit_counts_their_dreams_everywhere(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """With one dream each, a member whose dream waits in a server cannot start another in a DM
    or in someone else's server meanwhile; once it is done they can."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner, dream_user_queue_limit=1):
        alice = fake.add_member("alice")
        first = await _dream(fake, alice, cat_photo, "server")
        await fake.wait_callback(first)
        for where in ("dm", "foreign"):
            again = await _dream(fake, alice, cat_photo, where)
            callback = await fake.wait_callback(again)
            assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
            assert "already" in (callback.content or "").lower(), callback.content
        runner.gate.set()
        await fake.wait_for(final_edit(fake, first), timeout=60)
        later = await _dream(fake, alice, cat_photo, "dm")
        await fake.wait_for(final_edit(fake, later), timeout=60)


async def test_forced_ephemeral_answers_keep_their_controls_working(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """Where the server made external apps answer ephemerally, the member still gets the
    result and its controls work: Dream deeper dreams again, Delete removes the result."""
    async with start_bot(runner=GatedRunner()):
        alice = fake.add_member("alice")
        sent = await _dream(fake, alice, cat_photo, "foreign", ephemeral_only=True)
        await fake.wait_for(final_edit(fake, sent), timeout=60)
        result = sent.original_message_id
        assert result is not None and fake.messages[result]["flags"] & EPHEMERAL
        assert fake.messages[result]["attachments"]
        deeper = await fake.click(
            result, "deeper", user=alice, where="foreign", ephemeral_only=True
        )
        await fake.wait_for(final_edit(fake, deeper), timeout=60)
        assert deeper.original_message_id is not None
        assert fake.messages[deeper.original_message_id]["flags"] & EPHEMERAL
        await fake.click(result, "delete", user=alice, where="foreign", ephemeral_only=True)
        await fake.wait_until(lambda: result not in fake.messages)


def _large_photo() -> bytes:
    # a plain 4096 px square: a few kB, but an estimate far past the token's 15 minutes
    return picture_bytes(Image.new("RGB", (4096, 4096), (120, 140, 90)))


async def test_a_dream_that_outlives_the_token_where_only_the_webhook_answers_goes_to_dms(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """Where no channel can take the answer, a dream estimated to outlast the token says before
    it is queued that it will go to the member's DMs; when the token is gone it does."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner, dream_max_side=4096) as bot:
        alice = fake.add_member("alice")
        photo = fake.add_attachment(_large_photo(), filename="wide.png")
        sent = await fake.send_command(
            "dream",
            {"steps": 50, "octaves": 8},
            user=alice,
            attachments={"image": photo},
            where="foreign",
        )
        notice = await fake.wait_for(
            lambda r: r.method == "PATCH" and sent.token in r.path and TO_DMS in (r.content or "")
        )
        assert notice.status == 200
        fake.expire(sent)
        runner.gate.set()
        dm = fake.dm_channel_of(alice)
        delivered = await fake.wait_for(
            lambda r: (
                r.method == "POST" and r.route == f"/channels/{dm}/messages" and bool(r.files)
            ),
            timeout=60,
        )
        assert delivered.status == 200
        assert f"<@{alice.id}>" in (delivered.content or "")
        assert not fake.find(lambda r: str(fake.foreign_channel_id) in r.route and r.status == 200)
        # kept as any dream is: /dream-history there lists it
        (record,) = await bot.dreams.store.history(guild_id=fake.foreign_guild_id, user_id=alice.id)
        assert record.state is DreamState.DONE and record.has_output


async def test_in_a_server_with_the_bot_a_late_answer_still_goes_to_the_channel(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """Where the bot is a member, nothing changes: no DM notice, and a result past the token is
    posted in the channel, mentioning the member."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner):
        alice = fake.add_member("alice")
        sent = await _dream(fake, alice, cat_photo, "server")
        await fake.wait_for(lambda r: r.method == "PATCH" and sent.token in r.path)
        fake.expire(sent)
        runner.gate.set()
        posted = await fake.wait_for(
            lambda r: (
                r.method == "POST"
                and r.route == f"/channels/{fake.channel_id}/messages"
                and bool(r.files)
            ),
            timeout=60,
        )
        assert posted.status == 200 and f"<@{alice.id}>" in (posted.content or "")
        assert not any(TO_DMS in (e.content or "") for e in fake.edits(sent))


async def test_a_member_who_takes_no_dms_keeps_the_dream_and_the_queue_goes_on(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """When the late answer cannot reach the member (their DMs are closed to the app), the
    dream stays stored and listed, nothing is posted anywhere else, and the next dream runs."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner) as bot:
        alice = fake.add_member("alice")
        fake.closed_dms.add(alice.id)
        sent = await _dream(fake, alice, cat_photo, "foreign")
        await fake.wait_for(lambda r: r.method == "PATCH" and sent.token in r.path)
        fake.expire(sent)
        runner.gate.set()
        dm = fake.dm_channel_of(alice)
        refused = await fake.wait_for(lambda r: r.route == f"/channels/{dm}/messages", timeout=60)
        assert refused.status == 403
        (record,) = await bot.dreams.store.history(guild_id=fake.foreign_guild_id, user_id=alice.id)
        assert record.state is DreamState.DONE and record.has_output
        later = await _dream(fake, fake.add_member("bob"), cat_photo, "foreign")
        await fake.wait_for(final_edit(fake, later), timeout=60)
        # one try, no "something went wrong" sent after it
        assert len(fake.find(lambda r: r.route == f"/channels/{dm}/messages")) == 1
