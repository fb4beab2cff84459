"""End to end: /dream-queue and /dream-history, answered privately to the member who asks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_discord import FakeUser, Recorded, SentInteraction, final_edit
from tests.bot.support.results_fake import ResultsFake

DEFERRED, MESSAGE, EPHEMERAL = 5, 4, 64


async def _dream(
    fake: ResultsFake, user: FakeUser, photo: bytes, **options: Any
) -> SentInteraction:
    attachment = fake.add_attachment(photo, filename="cat.png")
    sent = await fake.send_command("dream", options, user=user, attachments={"image": attachment})
    assert (await fake.wait_callback(sent)).json["type"] == DEFERRED
    return sent


async def _ask(fake: ResultsFake, command: str, user: FakeUser) -> Recorded:
    sent = await fake.send_command(command, user=user)
    callback = await fake.wait_callback(sent)
    assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL, callback
    return callback


async def test_queue_shows_what_waits_my_places_and_the_wait(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """/dream-queue counts the waiting dreams, gives the member's positions and an estimate."""
    runner = GatedRunner()
    async with start_bot(runner=runner, dream_user_queue_limit=3) as bot:
        alice, bob = fake.add_member("alice"), fake.add_member("bob")
        empty = (await _ask(fake, "dream-queue", alice)).content or ""
        assert "Nobody is waiting" in empty and "no dreams in the queue" in empty

        await fake.wait_for(final_edit(fake, await _dream(fake, bob, cat_photo)))  # a time to go by
        runner.gate.clear()
        held = await _dream(fake, bob, cat_photo)
        mine = [await _dream(fake, alice, cat_photo) for _ in range(2)]
        await fake.wait_until(lambda: bot.jobs.running and bot.jobs.waiting == 2)

        text = (await _ask(fake, "dream-queue", alice)).content or ""
        assert "2 dreams waiting, and one is being dreamed now" in text, text
        assert "Yours are at 1 and 2" in text and "should start in about" in text, text
        text = (await _ask(fake, "dream-queue", bob)).content or ""
        assert "One of yours is being dreamed now" in text, text

        runner.gate.set()
        for sent in (held, *mine):
            await fake.wait_for(final_edit(fake, sent))


async def test_history_lists_my_last_ten_dreams_here_with_links(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """/dream-history shows the member's 10 latest dreams, newest first, linking each message."""
    async with start_bot(runner=GatedRunner()):
        alice, bob = fake.add_member("alice"), fake.add_member("bob")
        sent = []
        for seed in range(11):
            sent.append(await _dream(fake, alice, cat_photo, steps=1, octaves=1, seed=seed))
            await fake.wait_for(final_edit(fake, sent[-1]))
        await fake.wait_for(final_edit(fake, await _dream(fake, bob, cat_photo, seed=99)))

        embed = (await _ask(fake, "dream-history", alice)).json["data"]["embeds"][0]
        lines = embed["description"].splitlines()
        assert len(lines) == 10
        seeds = [int(m[1]) for line in lines if (m := re.search(r"seed (\d+)", line))]
        assert seeds == list(range(10, 0, -1))
        link = (
            f"https://discord.com/channels/{fake.guild_id}/{fake.channel_id}/"
            f"{sent[-1].original_message_id}"
        )
        assert link in lines[0]

        embed = (await _ask(fake, "dream-history", bob)).json["data"]["embeds"][0]
        assert len(embed["description"].splitlines()) == 1 and "seed 99" in embed["description"]
        newcomer = fake.add_member("newcomer")
        embed = (await _ask(fake, "dream-history", newcomer)).json["data"]["embeds"][0]
        assert "No dreams" in embed["description"]
