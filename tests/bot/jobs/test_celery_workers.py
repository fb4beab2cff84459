"""The Celery backend with real `deepdream-worker` processes (CPU engine, tiny pictures):
results, progress, two workers, a killed or cut-off worker, poison jobs, cancelling, a bot
restart, a job written by a newer bot."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from PIL import Image

import bot.jobs.celery.backend as celery_backend
from bot.errors import JobCancelled, ShuttingDown
from bot.jobs import Job, JobRequest, JobState
from bot.jobs.celery import CeleryBackend, JobFailed
from bot.jobs.celery.store import MAX_ATTEMPTS, Keys, decode_progress, request_fields
from engine import DreamParams
from tests.bot.celery_support import KILLER_SEED, POISON_SEED, SLOW_SEED, Workers

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


async def running(job: Job, *, stepped: bool = True, timeout: float = 120) -> None:
    """Wait until the job runs (and, if ``stepped``, reported its first step)."""
    async with asyncio.timeout(timeout):
        async for status in job.watch():
            if status.state is JobState.RUNNING and (status.progress is not None or not stepped):
                return
            assert not status.finished, status


def step(workers: Workers, job: Job) -> int:
    """The last step the job's worker reported (0 before the first)."""
    progress = decode_progress(workers.redis.hget(KEYS.job(job.id), "progress"))
    return 0 if progress is None else progress.done


async def test_a_dream_goes_through_a_worker_with_progress(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """Submit -> (queued) -> running with octave/step progress -> the dreamed picture."""
    backend = await backends()
    job = await backend.submit(request(101, cat_photo, seed=SLOW_SEED, steps=3))
    # a free worker may start it before submit() returns: then queued is never seen
    seen = [status async for status in job.watch()]
    result = await job.result()
    with Image.open(io.BytesIO(result.picture.data)) as picture:
        assert picture.size == (64, 43)
    order = [JobState.QUEUED, JobState.RUNNING, JobState.DONE]
    states = [order.index(s.state) for s in seen]
    assert states == sorted(states) and seen[-1].state is JobState.DONE, seen
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
    await asyncio.wait_for(asyncio.gather(*(job.result() for job in jobs)), 240)
    assert {field(workers, job, "worker") for job in jobs} == set(workers.alive())


async def test_cancel_reaches_the_worker_within_a_step(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """A running job cancelled stops at its next step, and the worker takes the next job."""
    backend = await backends()
    job = await backend.submit(request(301, cat_photo, seed=SLOW_SEED, steps=16))
    await running(job)
    job.cancel()
    async with asyncio.timeout(60):
        while not workers.redis.exists(KEYS.cancel(job.id)):
            await asyncio.sleep(0.01)
    flagged_at = step(workers, job)
    with pytest.raises(JobCancelled):
        await asyncio.wait_for(job.result(), 120)
    # the worker reads the flag with each step's report: at most one more step is dreamed
    assert step(workers, job) <= flagged_at + 1 < 16
    assert field(workers, job, "error") == "JobCancelled"
    after = await backend.submit(request(301, cat_photo))
    await asyncio.wait_for(after.result(), 120)


async def test_a_poison_job_stops_after_three_attempts_and_the_member_is_told(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """A job failing every time is tried 3 times, then fails with a message for the member."""
    backend = await backends()
    job = await backend.submit(request(401, cat_photo, seed=POISON_SEED))
    with pytest.raises(JobFailed, match="3 times") as failure:
        await asyncio.wait_for(job.result(), 120)
    assert "Traceback" not in str(failure.value)
    assert field(workers, job, "attempts") == str(MAX_ATTEMPTS)
    await backend.submit(request(401, cat_photo))  # the member's place was given back


async def test_a_killed_workers_job_completes_on_the_other_worker(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """SIGKILL a worker the moment its job runs: its lease lapses, the job runs again on the
    other worker (attempt 2) and is answered once."""
    backend = await backends()
    job = await backend.submit(request(501, cat_photo, seed=SLOW_SEED, steps=8))
    await running(job, stepped=False)
    victim = field(workers, job, "worker")
    assert victim is not None
    workers.kill(victim)
    result = await asyncio.wait_for(job.result(), 120)
    assert result.picture.data
    assert field(workers, job, "worker") not in (victim, None)
    assert field(workers, job, "attempts") == "2"
    assert workers.redis.get(KEYS.posted(job.id)) == backend.instance.encode()


async def test_a_cut_off_workers_late_result_is_not_posted_twice(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """A worker frozen mid-dream (SIGSTOP: alive, silent) loses its job to the other worker;
    thawed, it sees the job is no longer its own and reports nothing."""
    backend = await backends()
    job = await backend.submit(request(551, cat_photo, seed=SLOW_SEED, steps=8))
    await running(job)
    frozen = field(workers, job, "worker")
    assert frozen is not None
    workers.pause(frozen)
    try:
        result = await asyncio.wait_for(job.result(), 120)
    finally:
        workers.resume(frozen)
    survivor = field(workers, job, "worker")
    assert survivor not in (frozen, None)
    workers.wait_log(frozen, f"Job {job.id} went to another worker")
    assert f"Job {job.id} done" not in workers.log(frozen, tail=None)
    assert field(workers, job, "worker") == survivor
    assert result.picture.data
    assert workers.redis.get(KEYS.posted(job.id)) == backend.instance.encode()
    # the thawed worker dreams again
    again = await backend.submit(request(552, cat_photo))
    await asyncio.wait_for(again.result(), 120)


async def test_a_job_that_kills_every_worker_stops_after_three_attempts(
    backends: Callable[..., Any], workers: Workers, cat_photo: bytes
) -> None:
    """A job that SIGKILLs each worker that takes it is given up after its third attempt and
    the member told why; the dead workers are replaced meanwhile."""
    backend = await backends()
    job = await backend.submit(request(581, cat_photo, seed=KILLER_SEED))
    async with asyncio.timeout(240):
        while not job.done():
            if len(workers.alive()) < 2:
                await asyncio.to_thread(workers.ensure, 2)
            await asyncio.sleep(0.1)
    with pytest.raises(JobFailed, match="3 times"):
        await job.result()
    assert field(workers, job, "attempts") == str(MAX_ATTEMPTS)
    assert workers.redis.zcard(KEYS.user(581)) == 0


async def test_a_job_from_a_newer_bot_is_dreamed_by_this_worker(
    backends: Callable[..., Any],
    workers: Workers,
    cat_photo: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request with fields this worker does not know (in its settings and beside them) is
    dreamed with the fields it knows."""

    def newer(sent: JobRequest) -> dict[str, str]:
        fields = request_fields(sent)
        params = json.loads(fields["params"]) | {"sparkle": 0.7, "palette": ["teal"]}
        return fields | {"params": json.dumps(params), "priority": "high", "style": '{"a": 1}'}

    monkeypatch.setattr(celery_backend, "request_fields", newer)
    backend = await backends()
    job = await backend.submit(request(591, cat_photo, steps=2))
    assert b"sparkle" in (workers.redis.hget(KEYS.job(job.id), "params") or b"")
    result = await asyncio.wait_for(job.result(), 120)
    with Image.open(io.BytesIO(result.picture.data)) as picture:
        assert picture.size == (64, 43)
    assert field(workers, job, "state") == "done"


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
    async with asyncio.timeout(120):
        while not resumed:
            await asyncio.sleep(0.1)
    (again,) = resumed
    assert again.id == job.id and again.request.params.seed == SLOW_SEED
    result = await asyncio.wait_for(again.result(), 120)
    assert result.picture.data
    assert workers.redis.get(KEYS.posted(job.id)) == second.instance.encode()
    client = redis.Redis.from_url(workers.url)
    # a third process finds nothing left to answer
    assert client.zscore(KEYS.pending, job.id) is None
    assert not client.set(KEYS.posted(job.id), "x", nx=True)
    client.close()
