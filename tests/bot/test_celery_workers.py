"""The Celery backend with real `deepdream-worker` processes (CPU engine, tiny pictures):
results, progress, two workers, a killed worker, a poison job, cancelling, a bot restart."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from PIL import Image

from bot.errors import JobCancelled, ShuttingDown
from bot.jobs import Job, JobRequest, JobState
from bot.jobs.celery_backend import CeleryBackend, JobFailed
from bot.jobs.celery_store import MAX_ATTEMPTS, Keys
from engine import DreamParams
from tests.bot.celery_support import POISON_SEED, SLOW_SEED, STEP_S, Workers

pytest_plugins = ["tests.bot.celery_fixtures"]

pytestmark = pytest.mark.slow

KEYS = Keys()


def request(user: int, picture: bytes, *, seed: int = 1, steps: int = 2) -> JobRequest:
    params = DreamParams(steps=steps, octaves=1, max_side=64, seed=seed)
    return JobRequest(user_id=user, picture=picture, params=params)


@pytest.fixture
async def backends(workers: Workers) -> AsyncIterator[Callable[..., Any]]:
    """Starts CeleryBackends ('bot processes') on the workers' database; closes them after."""
    started: list[CeleryBackend] = []

    async def make(**options: Any) -> CeleryBackend:
        backend = CeleryBackend(redis_url=workers.url, heartbeat_s=0.5, **options)
        await backend.start()
        started.append(backend)
        return backend

    yield make
    for backend in started:
        await backend.close(timeout=0)


def field(workers: Workers, job: Job, name: str) -> str | None:
    value = workers.redis.hget(KEYS.job(job.id), name)
    return value.decode() if value is not None else None


async def running(job: Job, timeout: float = 20) -> None:
    """Wait until the job reported its first step."""
    async with asyncio.timeout(timeout):
        async for status in job.watch():
            if status.state is JobState.RUNNING and status.progress is not None:
                return
            assert not status.finished, status


async def test_a_dream_goes_through_a_worker_with_progress(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """Submit -> queued -> running with octave/step progress -> the dreamed picture."""
    backend = await backends()
    job = await backend.submit(request(101, cat_photo, seed=SLOW_SEED, steps=3))
    seen = [status async for status in job.watch()]
    result = await job.result()
    with Image.open(io.BytesIO(result.picture.data)) as picture:
        assert picture.size == (64, 43)
    assert seen[0].state is JobState.QUEUED and seen[-1].state is JobState.DONE
    assert any(s.progress is not None and s.progress.steps == 3 for s in seen)
    assert field(workers, job, "worker") in workers.alive()
    # nothing of the finished job lingers but its state, for a while
    assert not workers.redis.exists(KEYS.picture_in(job.id), KEYS.picture_out(job.id))
    assert 0 < workers.redis.ttl(KEYS.job(job.id)) <= 600
    assert workers.redis.zscore(KEYS.pending, job.id) is None


async def test_two_workers_share_the_queue(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """Jobs submitted together are spread over both workers."""
    backend = await backends(user_limit=1)
    jobs = [
        await backend.submit(request(200 + n, cat_photo, seed=SLOW_SEED, steps=3)) for n in range(4)
    ]
    await asyncio.wait_for(asyncio.gather(*(job.result() for job in jobs)), 60)
    assert {field(workers, job, "worker") for job in jobs} == set(workers.alive())


async def test_cancel_reaches_the_worker_within_a_step(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """A running job cancelled stops within about one step, and the worker takes the next."""
    backend = await backends()
    job = await backend.submit(request(301, cat_photo, seed=SLOW_SEED, steps=16))
    await running(job)
    cancelled_at = time.monotonic()
    job.cancel()
    with pytest.raises(JobCancelled):
        await asyncio.wait_for(job.result(), 10)
    assert time.monotonic() - cancelled_at < 3 * STEP_S + 1.0
    assert field(workers, job, "error") == "JobCancelled"
    after = await backend.submit(request(301, cat_photo))
    await asyncio.wait_for(after.result(), 30)


async def test_a_poison_job_stops_after_three_attempts_and_the_member_is_told(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """A job failing every time is tried 3 times, then fails with a message for the member."""
    backend = await backends()
    job = await backend.submit(request(401, cat_photo, seed=POISON_SEED))
    with pytest.raises(JobFailed, match="3 times") as failure:
        await asyncio.wait_for(job.result(), 60)
    assert "Traceback" not in str(failure.value)
    assert field(workers, job, "attempts") == str(MAX_ATTEMPTS)
    await backend.submit(request(401, cat_photo))  # the member's place was given back


async def test_a_killed_workers_job_completes_on_the_other_worker(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """SIGKILL a worker mid-dream: its job runs again on the other worker and completes."""
    backend = await backends()
    job = await backend.submit(request(501, cat_photo, seed=SLOW_SEED, steps=8))
    await running(job)
    victim = field(workers, job, "worker")
    assert victim is not None
    killed_at = time.monotonic()
    workers.kill(victim)
    result = await asyncio.wait_for(job.result(), 60)
    recovered = time.monotonic() - killed_at
    print(f"\nrecovered the killed worker's job in {recovered:.1f} s")
    assert result.picture.data
    assert field(workers, job, "worker") not in (victim, None)
    assert field(workers, job, "attempts") == "2"


async def test_a_restarted_bot_takes_its_jobs_back_and_posts_once(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """A bot stopping mid-dream leaves the job running; the next bot process resumes it."""
    first = await backends()
    job = await first.submit(request(601, cat_photo, seed=SLOW_SEED, steps=6))
    await running(job)
    await first.close(timeout=0)
    with pytest.raises(ShuttingDown, match="carries on"):
        await job.result()

    resumed: list[Job] = []
    second = await backends()

    async def answer(taken: Job) -> None:
        resumed.append(taken)

    second.on_resumed = answer
    async with asyncio.timeout(30):
        while not resumed:
            await asyncio.sleep(0.1)
    (again,) = resumed
    assert again.id == job.id and again.request.params.seed == SLOW_SEED
    result = await asyncio.wait_for(again.result(), 30)
    assert result.picture.data
    assert workers.redis.get(KEYS.posted(job.id)) == second.instance.encode()
    client = redis.Redis.from_url(workers.url)
    # a third process finds nothing left to answer
    assert client.zscore(KEYS.pending, job.id) is None
    assert not client.set(KEYS.posted(job.id), "x", nx=True)
    client.close()
