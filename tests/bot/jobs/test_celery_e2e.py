"""End to end with DREAM_BACKEND=celery: /dream through the fake Discord, real workers on the
CPU, a bot restart and a worker's death in the middle of a dream."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from PIL import Image

from bot.jobs import JobState
from bot.jobs.celery import CeleryBackend
from bot.jobs.celery.store import Keys
from tests.bot.celery_support import SLOW_SEED, Workers
from tests.bot.support.fake_discord import FakeDiscord, Recorded, SentInteraction

pytest_plugins = ["tests.bot.celery_fixtures"]

pytestmark = pytest.mark.slow

DEFERRED = 5


def _final(fake: FakeDiscord, sent: SentInteraction) -> Callable[[Recorded], bool]:
    """Matches the edit of the original response that carries a file."""
    hook = f"/webhooks/{fake.application_id}/{sent.token}/messages/@original"
    return lambda r: r.method == "PATCH" and r.route == hook and bool(r.files)


@pytest.fixture
def start_celery_bot(
    fake: FakeDiscord, bot_settings: Callable[..., Any], workers: Workers
) -> Callable[..., contextlib.AbstractAsyncContextManager[Any]]:
    """``async with start_celery_bot() as bot``: the real DreamBot on the fake, its dreams on
    the session's workers (a fresh bot process each time, sharing the data directory)."""
    from bot.bot import DreamBot

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[DreamBot]:
        settings = bot_settings(
            dream_backend="celery", dream_redis_url=workers.url, dream_max_side=64, **overrides
        )
        jobs = CeleryBackend(
            redis_url=workers.url,
            queue_limit=settings.dream_queue_limit,
            user_limit=settings.dream_user_queue_limit,
            models=settings.dream_models,
            heartbeat_s=0.5,
        )
        bot = DreamBot(settings=settings, jobs=jobs)
        bot._connection.guild_ready_timeout = 0.05
        async with fake.running(bot, token="fake-token"):
            yield bot

    return start


async def test_dream_runs_on_a_celery_worker_through_discord(
    fake: FakeDiscord,
    start_celery_bot: Callable[..., Any],
    workers: Workers,
    cat_photo: bytes,
) -> None:
    """/dream with DREAM_BACKEND=celery: deferred, progress shown, answered with the dream."""
    async with start_celery_bot() as bot:
        assert "2 connected" in await bot.jobs.describe()
        user = fake.add_member("celia")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command(
            "dream",
            {"steps": 3, "octaves": 1, "seed": SLOW_SEED},
            user=user,
            attachments={"image": photo},
        )
        callback = await fake.wait_callback(sent)
        assert callback.status == 200 and callback.json["type"] == DEFERRED
        final = await fake.wait_for(_final(fake, sent), timeout=120)
        upload, _original = final.files  # the dream, then the member's picture beside it
        with Image.open(io.BytesIO(upload.data)) as dreamed:
            assert dreamed.size == (64, 43)
        assert "3 steps" in (final.content or "") and f"seed {SLOW_SEED}" in (final.content or "")
        passing = [e for e in fake.edits(sent) if e.time < final.time and not e.files]
        assert any("Dreaming" in (e.content or "") for e in passing), passing


async def test_a_restarted_bot_posts_the_dream_its_predecessor_started(
    fake: FakeDiscord,
    start_celery_bot: Callable[..., Any],
    workers: Workers,
    cat_photo: bytes,
) -> None:
    """The bot stops mid-dream; the worker goes on; the next bot process posts the result once."""
    user = fake.add_member("remy")
    photo = fake.add_attachment(cat_photo, filename="cat.png")
    async with start_celery_bot(dream_shutdown_timeout_s=0):  # no waiting for the dream
        sent = await fake.send_command(
            "dream",
            {"steps": 12, "octaves": 1, "seed": SLOW_SEED},
            user=user,
            attachments={"image": photo},
        )
        await fake.wait_for(
            lambda r: (
                r.method == "PATCH"
                and sent.token in r.route
                and "Dreaming… octave" in (r.content or "")
            ),
            timeout=120,
        )
    stopped = len(fake.edits(sent))
    assert not any(e.files for e in fake.edits(sent))
    async with start_celery_bot():
        final = await fake.wait_for(_final(fake, sent), timeout=120)
        assert "12 steps" in (final.content or "")
        await asyncio.sleep(1.0)  # nothing else arrives: the result is posted once
        assert [e for e in fake.edits(sent) if e.files] == [final]
    assert len(fake.edits(sent)) > stopped


async def test_a_dream_whose_worker_is_killed_is_posted_once_by_the_other(
    fake: FakeDiscord,
    start_celery_bot: Callable[..., Any],
    workers: Workers,
    cat_photo: bytes,
) -> None:
    """SIGKILL the worker as soon as the dream runs: the other worker dreams it (attempt 2) and
    the member gets it once, in the same message."""
    keys = Keys()
    async with start_celery_bot() as bot:
        user = fake.add_member("kit")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command(
            "dream",
            {"steps": 6, "octaves": 1, "seed": SLOW_SEED},
            user=user,
            attachments={"image": photo},
        )
        async with asyncio.timeout(120):
            while not (bot.jobs.watched and bot.jobs.watched[0].status.state is JobState.RUNNING):
                await asyncio.sleep(0.01)
        job_id = bot.jobs.watched[0].id
        victim = workers.redis.hget(keys.job(job_id), "worker")
        assert victim is not None
        workers.kill(victim.decode())
        final = await fake.wait_for(_final(fake, sent), timeout=120)
        assert "6 steps" in (final.content or "")
        await asyncio.sleep(1.0)  # nothing else arrives: the result is posted once
        assert [e for e in fake.edits(sent) if e.files] == [final]
    assert workers.redis.hget(keys.job(job_id), "attempts") == b"2"
