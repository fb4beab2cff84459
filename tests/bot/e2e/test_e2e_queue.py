"""End to end: the queue's caps, its fairness, errors in jobs, and answers while a job runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_discord import (
    FakeDiscord,
    FakeUser,
    Recorded,
    SentInteraction,
    final_edit,
)

DEFERRED, MESSAGE, EPHEMERAL = 5, 4, 64


async def _dream(
    fake: FakeDiscord, user: FakeUser, photo: bytes, **options: Any
) -> tuple[SentInteraction, Recorded]:
    attachment = fake.add_attachment(photo, filename="cat.png")
    sent = await fake.send_command("dream", options, user=user, attachments={"image": attachment})
    return sent, await fake.wait_callback(sent)


async def _wait_running(runner: GatedRunner) -> None:
    await asyncio.wait_for(asyncio.to_thread(runner.started.wait, 10), 11)


async def test_a_member_over_their_limit_is_told_so(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """With DREAM_USER_QUEUE_LIMIT=2 a member's third dream is refused ephemerally, naming it."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner, dream_user_queue_limit=2) as bot:
        alice = fake.add_member("alice")
        photos = [fake.add_attachment(cat_photo, filename="cat.png") for _ in range(3)]
        # three at once, before any download finished: the limit must hold anyway
        sends = [
            await fake.send_command("dream", user=alice, attachments={"image": photo})
            for photo in photos
        ]
        callbacks = [await fake.wait_callback(sent) for sent in sends]
        assert [c.json["type"] for c in callbacks] == [DEFERRED, DEFERRED, MESSAGE]
        refused = callbacks[2]
        assert refused.flags & EPHEMERAL and "2 dreams" in (refused.content or "")
        assert not fake.downloaded(photos[2])
        bob = fake.add_member("bob")
        _, other = await _dream(fake, bob, cat_photo)
        assert other.json["type"] == DEFERRED  # the limit is per member
        runner.gate.set()
        await fake.wait_until(lambda: len(runner.requests) == 3 and bot.jobs.running == 0)


async def test_a_full_queue_is_announced(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """With DREAM_QUEUE_LIMIT=2 and two waiting, the next member hears the queue is full."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner, dream_queue_limit=2, dream_user_queue_limit=5) as bot:
        await _dream(fake, fake.add_member("ann"), cat_photo)
        await _wait_running(runner)
        sends = [  # three at once, before any download finished: the cap must hold anyway
            await fake.send_command(
                "dream",
                user=fake.add_member(name),
                attachments={"image": fake.add_attachment(cat_photo, filename="cat.png")},
            )
            for name in ("ben", "cid", "dan")
        ]
        callbacks = [await fake.wait_callback(sent) for sent in sends]
        assert [c.json["type"] for c in callbacks] == [DEFERRED, DEFERRED, MESSAGE]
        assert callbacks[2].flags & EPHEMERAL
        assert "queue is full" in (callbacks[2].content or "")
        await fake.wait_until(lambda: bot.jobs.waiting == 2)
        runner.gate.set()
        await fake.wait_until(lambda: len(runner.requests) == 3 and bot.jobs.running == 0)


@pytest.mark.slow
async def test_several_members_are_served_round_robin(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """Queued dreams of three members run in turns (A B C A B A), not first come first served."""
    runner = GatedRunner(hold=True, step_s=0.15)  # answers leave in the order the jobs ran
    async with start_bot(runner=runner, dream_user_queue_limit=3) as bot:
        a, b, c = (fake.add_member(n) for n in ("amy", "bo", "cy"))
        sends = [await _dream(fake, a, cat_photo)]
        await _wait_running(runner)
        for user in (a, a, b, b, c):  # arrival order: A A B B C
            sends.append(await _dream(fake, user, cat_photo))
        await fake.wait_until(lambda: bot.jobs.waiting == 5)
        positions = {
            e.content
            for sent, _ in sends[1:]
            for e in fake.edits(sent)
            if "queue" in (e.content or "")
        }
        assert any("position" in text for text in positions if text), positions
        runner.gate.set()
        finals = [await fake.wait_for(final_edit(fake, sent), timeout=30) for sent, _ in sends]

        assert runner.order == [u.id for u in (a, b, c, a, b, a)]
        answered = sorted(zip(finals, sends, strict=True), key=lambda pair: pair[0].time)
        assert [sent.user.id for _, (sent, _) in answered] == runner.order


async def test_an_unexpected_error_is_explained_kindly_and_the_queue_goes_on(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """A crashing job tells its member something went wrong (no traceback); the next one runs."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner):
        unlucky, next_one = fake.add_member("una"), fake.add_member("ned")
        runner.fail_for.add(unlucky.id)
        failed, _ = await _dream(fake, unlucky, cat_photo)
        fine, _ = await _dream(fake, next_one, cat_photo)
        runner.gate.set()
        result = await fake.wait_for(final_edit(fake, fine), timeout=30)
        assert result.status == 200
        told = [r for r in fake.for_interaction(failed) if r.method in ("PATCH", "POST")]
        texts = [r.content or "" for r in told if r.content]
        assert any("went wrong" in text for text in texts), texts
        assert not any("Traceback" in t or "secret" in t or "RuntimeError" in t for t in texts)
        assert not any(r.files for r in told)


async def test_a_cooldown_refuses_a_second_dream_too_soon(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """With DREAM_COOLDOWN_S set, a member's next dream right away is refused with the wait."""
    async with start_bot(runner=GatedRunner(), dream_cooldown_s=60):
        member = fake.add_member("quick")
        first, _ = await _dream(fake, member, cat_photo)
        await fake.wait_for(final_edit(fake, first), timeout=30)
        _, refused = await _dream(fake, member, cat_photo)
        assert refused.json["type"] == MESSAGE and refused.flags & EPHEMERAL
        assert " s " in (refused.content or "") or " s" in (refused.content or "")


async def test_shutdown_tells_members_whose_dreams_were_still_queued(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """Closing the bot tells a queued member their dream never started, and stops cleanly."""
    runner = GatedRunner(hold=True)
    async with start_bot(runner=runner, dream_shutdown_timeout_s=0.5) as bot:
        await _dream(fake, fake.add_member("run"), cat_photo)
        await _wait_running(runner)
        queued, _ = await _dream(fake, fake.add_member("wait"), cat_photo)
        await fake.wait_until(lambda: bot.jobs.waiting == 1)
    texts = [r.content or "" for r in fake.for_interaction(queued) if r.method == "PATCH"]
    assert any("restart" in text for text in texts), texts
    assert runner.order == [runner.requests[0].user_id]


@pytest.mark.slow
async def test_the_initial_response_stays_under_3_s_while_a_real_job_runs(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """While the real engine dreams, new commands are still answered well within Discord's 3 s."""
    # a long job (200 steps at up to 256 px), cancelled within one step when the bot closes
    async with start_bot(runner=None, dream_max_side=256, dream_shutdown_timeout_s=0) as bot:
        busy, _ = await _dream(fake, fake.add_member("busy"), cat_photo, steps=50, octaves=4)
        await fake.wait_for(
            lambda r: busy.token in r.path and "Dreaming" in (r.content or ""), timeout=60
        )
        sends: list[SentInteraction] = []
        for index in range(3):
            member = fake.add_member(f"m{index}")
            sends.append((await _dream(fake, member, cat_photo, steps=1, octaves=1))[0])
            sends.append(await fake.send_command("layers", user=member))
            await asyncio.sleep(0.2)
        latencies = [(await fake.wait_callback(s)).time - s.time for s in sends]
        assert bot.jobs.current is not None and bot.jobs.current.request.user_id == busy.user.id, (
            "the long job ended before the measurement; make it longer"
        )
        assert all(callback.status == 200 for s in sends if (callback := fake.callback(s)))
        assert max(latencies) < 3.0, latencies
