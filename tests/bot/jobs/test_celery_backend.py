"""The Celery backend against a real Redis without workers: limits shared by bot processes,
what a task message carries, cancelling a waiting job, the attempt limit, leases that lapse and
the fencing of late results, the counts the cogs read, --check."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from bot.errors import JobCancelled, QueueFull, UserQueueFull
from bot.jobs import Job, JobKind, JobRequest, JobState
from bot.jobs.celery import CeleryBackend, JobFailed
from bot.jobs.celery.app import queue_for
from bot.jobs.celery.store import (
    FINISH,
    JOB_TTL_S,
    MAX_ATTEMPTS,
    POISON_MESSAGE,
    PROGRESS,
    RENEW,
    RESULT_TTL_S,
    START,
    Keys,
)
from engine import DreamParams, ZoomParams

pytest_plugins = ["tests.bot.celery_fixtures"]


def request(user: int, picture: bytes = b"not dreamed here", **params: Any) -> JobRequest:
    return JobRequest(
        user_id=user, picture=picture, params=DreamParams(**({"steps": 1, "octaves": 1} | params))
    )


@pytest.fixture
async def backends(
    empty_redis: str,
) -> AsyncIterator[Callable[..., Any]]:
    """Starts CeleryBackends (each one 'bot process') on the emptied database; closes them."""
    started: list[CeleryBackend] = []

    async def make(**options: Any) -> CeleryBackend:
        backend = CeleryBackend(redis_url=empty_redis, **({"heartbeat_s": 0.2} | options))
        await backend.start()
        started.append(backend)
        return backend

    yield make
    for backend in started:
        await backend.close(timeout=0)


async def test_the_per_member_limit_is_shared_by_two_bot_processes(
    backends: Callable[..., Any],
) -> None:
    """A member's jobs on one bot process count against their limit on the other."""
    a = await backends(user_limit=2, queue_limit=10)
    b = await backends(user_limit=2, queue_limit=10)
    await a.submit(request(1))
    async with b.reserve(1) as slot:
        with pytest.raises(UserQueueFull):
            async with a.reserve(1):
                pass
        await slot.submit(request(1))
    with pytest.raises(UserQueueFull):
        await a.submit(request(1))
    await b.submit(request(2))  # another member is not held back


async def test_the_global_cap_is_shared_and_counts_held_places(
    backends: Callable[..., Any],
) -> None:
    """Waiting jobs and places held while downloading, on any bot process, fill the queue."""
    a = await backends(user_limit=5, queue_limit=3)
    b = await backends(user_limit=5, queue_limit=3)
    await a.submit(request(1))
    await b.submit(request(2))
    async with a.reserve(3):
        with pytest.raises(QueueFull):
            await b.submit(request(4))
    await b.submit(request(4))  # the unused place was given back


async def test_reservations_racing_from_two_processes_never_exceed_the_limit(
    backends: Callable[..., Any],
) -> None:
    """Twenty simultaneous reservations by one member across two processes: exactly 2 hold."""
    a = await backends(user_limit=2, queue_limit=50)
    b = await backends(user_limit=2, queue_limit=50)
    async with contextlib.AsyncExitStack() as stack:

        async def try_reserve(backend: CeleryBackend) -> bool:
            try:
                await stack.enter_async_context(backend.reserve(7))
            except UserQueueFull:
                return False
            return True

        held = await asyncio.gather(*(try_reserve(x) for x in [a, b] * 10))
        assert sum(held) == 2


async def test_a_task_message_names_the_job_and_carries_no_picture(
    backends: Callable[..., Any], empty_redis: str, cat_photo: bytes
) -> None:
    """The message is JSON with the job id only; the picture waits in Redis with a TTL."""
    backend = await backends()
    job = await backend.submit(request(1, picture=cat_photo))
    client = redis.Redis.from_url(empty_redis)
    keys = Keys()
    (raw,) = client.lrange(queue_for("efficientnet_lite0"), 0, -1)
    message = json.loads(raw)
    assert message["content-type"] == "application/json"
    assert message["headers"]["id"] == job.id
    assert len(raw) < 4000 < len(cat_photo)
    assert client.get(keys.picture_in(job.id)) == cat_photo
    assert 0 < client.ttl(keys.picture_in(job.id)) <= JOB_TTL_S
    assert 0 < client.ttl(keys.job(job.id)) <= JOB_TTL_S
    assert job.status.state is JobState.QUEUED and job.status.position == 1
    second = await backend.submit(request(2))
    assert second.status.position == 2
    client.close()


async def test_cancelling_a_waiting_job_fails_it_and_frees_the_place(
    backends: Callable[..., Any], empty_redis: str
) -> None:
    """A waiting job cancelled is told at once, and the member may ask again."""
    backend = await backends(user_limit=1)
    job = await backend.submit(request(1))
    job.cancel()
    with pytest.raises(JobCancelled):
        await asyncio.wait_for(job.result(), 60)
    client = redis.Redis.from_url(empty_redis)
    assert client.exists(Keys().cancel(job.id))
    assert not client.exists(Keys().picture_in(job.id))
    client.close()
    await backend.submit(request(1))


async def test_a_job_that_killed_its_workers_three_times_is_given_up(
    backends: Callable[..., Any], empty_redis: str
) -> None:
    """A fourth delivery (after 3 attempts that never finished) fails the job, telling why."""
    backend = await backends()
    job = await backend.submit(request(1))
    client = redis.Redis.from_url(empty_redis)
    keys = Keys()
    client.hset(keys.job(job.id), "attempts", MAX_ATTEMPTS)
    start = client.register_script(START)
    args = [keys.prefix, job.id, "w@test", MAX_ATTEMPTS, JOB_TTL_S, RESULT_TTL_S, POISON_MESSAGE]
    assert start(args=args) == b"poison"
    with pytest.raises(JobFailed, match="3 times"):
        await asyncio.wait_for(job.result(), 60)
    assert client.hget(keys.job(job.id), "attempts") == str(MAX_ATTEMPTS).encode()
    assert client.zcard(keys.user(1)) == 0
    client.close()


async def test_describe_names_the_workers_their_models_and_the_queue(
    backends: Callable[..., Any], empty_redis: str
) -> None:
    """The log line lists each connected worker with its models, and how many jobs wait."""
    backend = await backends(models=("efficientnet_lite0", "googlenet"))
    await backend.submit(request(1))
    client = redis.Redis.from_url(empty_redis)
    worker = {"name": "w9@host", "device": "cuda:0", "models": ["efficientnet_lite0"], "job": None}
    client.set(Keys().worker("w9@host"), json.dumps(worker), ex=15)
    client.close()
    text = await backend.describe()
    assert "1 connected" in text and "w9@host on cuda:0: efficientnet_lite0" in text
    assert "1 waiting" in text and "no worker serves googlenet" in text


def test_worker_check_prints_workers_models_and_queue(
    empty_redis: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`deepdream-worker --check` lists the workers and queue lengths; exit 1 with none."""
    from bot.jobs.celery.worker import WorkerSettings, check

    settings = WorkerSettings(_env_file=None, dream_redis_url=empty_redis)  # type: ignore[call-arg]
    assert check(settings) == 1
    client = redis.Redis.from_url(empty_redis)
    worker = {"name": "w9@host", "device": "cpu", "models": ["efficientnet_lite0"], "job": "abc"}
    client.set(Keys().worker("w9@host"), json.dumps(worker), ex=15)
    client.close()
    assert check(settings) == 0
    out = capsys.readouterr().out
    assert "1 workers connected" in out and "busy with job abc" in out
    assert "queue dreams.efficientnet_lite0: 0 waiting" in out


def test_worker_settings_want_the_visibility_timeout_above_the_job_timeout() -> None:
    """A visibility timeout shorter than a job would hand running jobs to a second worker."""
    from pydantic import ValidationError

    from bot.jobs.celery.worker import WorkerSettings

    with pytest.raises(ValidationError, match="VISIBILITY"):
        WorkerSettings(  # type: ignore[call-arg]
            _env_file=None, dream_job_timeout_s=600, dream_visibility_timeout_s=300
        )


def test_dream_backend_celery_builds_the_celery_backend(bot_settings: Callable[..., Any]) -> None:
    """DREAM_BACKEND=celery gives the bot a CeleryBackend on DREAM_REDIS_URL; local by default."""
    from bot.jobs import LocalBackend
    from bot.jobs.backends import backend_from_settings

    celery = backend_from_settings(
        bot_settings(dream_backend="Celery", dream_redis_url="redis://example:6379/3")
    )
    assert isinstance(celery, CeleryBackend) and celery.redis_url == "redis://example:6379/3"
    assert isinstance(backend_from_settings(bot_settings()), LocalBackend)


def test_a_request_and_its_progress_survive_the_json_round_trip() -> None:
    """Settings, origin, kind and animation fields come back equal; frames keep their fields."""
    from bot.jobs import Origin
    from bot.jobs.celery.store import (
        decode_progress,
        encode_progress,
        request_fields,
        request_from_fields,
    )
    from engine import FrameProgress, Progress

    origin = Origin(
        application_id=1, token="secret", channel_id=None, user_id=5, created_at=1700000000.5
    )
    sent = JobRequest(
        user_id=5,
        picture=b"png",
        params=DreamParams(layers=("mixed", "blocks.3"), channels=(1, 2), dream_of="goldfish"),
        max_bytes=1000,
        origin=origin,
        kind=JobKind.ZOOM,
        animation=ZoomParams(frames=12, zoom=0.05),
    )
    fields = request_fields(sent)
    assert all(isinstance(value, str) for value in fields.values())
    assert request_from_fields(fields, b"png") == sent
    step = Progress(octave=2, octaves=3, step=4, steps=5)
    frame = FrameProgress(
        octave=1, octaves=1, step=2, steps=2, frame=3, frames=9, steps_done=6, steps_total=18
    )
    assert decode_progress(encode_progress(step)) == step
    assert decode_progress(encode_progress(frame).encode()) == frame


def start_run(client: redis.Redis, job_id: str, worker: str, lease_ms: int = 60_000) -> str:
    """What a worker does on taking a job: START with a lease; returns the job's run token."""
    start = client.register_script(START)
    keys = Keys()
    args = [keys.prefix, job_id, worker, MAX_ATTEMPTS, JOB_TTL_S, RESULT_TTL_S, POISON_MESSAGE]
    assert start(args=[*args, lease_ms]) == b"run"
    token = client.hget(keys.job(job_id), "run")
    assert token is not None
    return token.decode()


async def next_state(job: Job, state: JobState, timeout: float = 60) -> None:
    """Wait until the job's status is ``state``."""
    async with asyncio.timeout(timeout):
        async for status in job.watch():
            if status.state is state:
                return
            assert not status.finished, status


async def test_a_lapsed_lease_requeues_the_job_once_across_bot_processes(
    backends: Callable[..., Any], empty_redis: str
) -> None:
    """A running job whose lease lapsed goes back to waiting, its task sent again exactly once
    though two bot processes watch; a second delivery while a lease is held is refused."""
    a = await backends()
    b = await backends()
    job = await a.submit(request(1))
    client = redis.Redis.from_url(empty_redis)
    keys, queue = Keys(), queue_for("efficientnet_lite0")
    start_run(client, job.id, "w1@test")
    await next_state(job, JobState.RUNNING)
    assert client.llen(queue) == 1  # nobody consumed the first message here
    client.delete(keys.lease(job.id))  # the worker stopped renewing it: dead, or cut off
    await next_state(job, JobState.QUEUED)
    assert client.hget(keys.job(job.id), "state") == b"queued"
    async with asyncio.timeout(60):
        while client.llen(queue) < 2:
            await asyncio.sleep(0.05)
    for backend in (a, b):  # another round each, on top of their own every 0.2 s
        await backend._requeue_lapsed()
    assert client.llen(queue) == 2
    assert client.zscore(keys.waiting, job.id) is not None
    assert client.zscore(keys.running, job.id) is None
    token = start_run(client, job.id, "w2@test")
    assert token == "w2@test#2"
    start = client.register_script(START)
    args = [keys.prefix, job.id, "w3@test", MAX_ATTEMPTS, JOB_TTL_S, RESULT_TTL_S, POISON_MESSAGE]
    assert start(args=[*args, 60_000]) == b"duplicate"
    assert client.hget(keys.job(job.id), "attempts") == b"2"
    client.close()


async def test_a_late_result_of_a_worker_that_lost_its_job_is_not_kept(
    backends: Callable[..., Any], empty_redis: str
) -> None:
    """The first worker, only cut off, comes back after its job went to a second one: its
    progress and result are refused (and it is told to stop); the second worker's are kept."""
    backend = await backends()
    job = await backend.submit(request(1))
    client = redis.Redis.from_url(empty_redis)
    keys = Keys()
    first = start_run(client, job.id, "w1@test")
    client.delete(keys.lease(job.id))
    await next_state(job, JobState.QUEUED)
    second = start_run(client, job.id, "w2@test")
    finish = client.register_script(FINISH)
    progress = client.register_script(PROGRESS)
    renew = client.register_script(RENEW)
    assert progress(args=[keys.prefix, job.id, first, '{"octave": 1}']) == 2
    assert renew(args=[keys.prefix, job.id, first, 60_000]) == 0
    late = ["done", b"late", "seconds", "1", "format", "PNG", "filename", "late.png"]
    assert finish(args=[keys.prefix, job.id, RESULT_TTL_S, first, *late]) == 0
    assert client.hget(keys.job(job.id), "state") == b"running"
    assert renew(args=[keys.prefix, job.id, second, 60_000]) == 1
    kept = ["done", b"kept", "seconds", "1", "format", "PNG", "filename", "kept.png"]
    assert finish(args=[keys.prefix, job.id, RESULT_TTL_S, second, *kept]) == 1
    assert finish(args=[keys.prefix, job.id, RESULT_TTL_S, first, *late]) == 0
    result = await asyncio.wait_for(job.result(), 60)
    assert result.picture.data == b"kept" and result.picture.filename == "kept.png"
    assert client.get(keys.posted(job.id)) == backend.instance.encode()
    assert not client.exists(keys.lease(job.id)) and client.zcard(keys.running) == 0
    client.close()


async def test_a_lease_that_lapsed_unnoticed_is_taken_back_by_its_worker(
    empty_redis: str,
) -> None:
    """A worker late to renew, whose job nobody requeued yet, keeps it; a stranger cannot."""
    client = redis.Redis.from_url(empty_redis)
    keys = Keys()
    client.hset(keys.job("j1"), mapping={"state": "queued", "model": "m", "user": "1"})
    token = start_run(client, "j1", "w1@test")
    client.delete(keys.lease("j1"))
    renew = client.register_script(RENEW)
    assert renew(args=[keys.prefix, "j1", "w9@test#1", 60_000]) == 0
    assert renew(args=[keys.prefix, "j1", token, 60_000]) == 1
    assert client.get(keys.lease("j1")) == token.encode()
    assert 0 < client.pttl(keys.lease("j1")) <= 60_000
    client.close()


async def test_a_job_whose_worker_died_on_its_last_attempt_is_given_up(
    backends: Callable[..., Any], empty_redis: str
) -> None:
    """A lease lapsing on the third attempt fails the job at once, telling the member why."""
    backend = await backends()
    job = await backend.submit(request(1))
    client = redis.Redis.from_url(empty_redis)
    keys = Keys()
    client.hset(keys.job(job.id), "attempts", MAX_ATTEMPTS - 1)
    start_run(client, job.id, "w1@test")
    client.delete(keys.lease(job.id))
    with pytest.raises(JobFailed, match="3 times"):
        await asyncio.wait_for(job.result(), 60)
    assert client.hget(keys.job(job.id), "attempts") == str(MAX_ATTEMPTS).encode()
    assert client.llen(queue_for("efficientnet_lite0")) == 1  # not sent again
    assert client.zcard(keys.user(1)) == 0
    client.close()


async def test_waiting_and_running_count_everyones_jobs(
    backends: Callable[..., Any], empty_redis: str
) -> None:
    """The counts the cogs show include the jobs of other bot processes, waiting and running."""
    a = await backends()
    b = await backends()
    first = await a.submit(request(1))
    await a.submit(request(2))
    await b.submit(request(3))
    client = redis.Redis.from_url(empty_redis)
    start_run(client, first.id, "w1@test")
    client.close()

    async def counted(backend: CeleryBackend) -> None:
        async with asyncio.timeout(60):
            while (backend.waiting, backend.running) != (2, 1):
                await asyncio.sleep(0.05)

    await asyncio.gather(counted(a), counted(b))


async def test_a_guide_picture_travels_beside_the_job_and_goes_with_it(
    backends: Callable[..., Any], empty_redis: str
) -> None:
    """A guided job's guide picture waits in its own key (TTL) and is dropped when it ends."""
    from bot.jobs.celery.store import request_fields, request_from_fields

    backend = await backends()
    sent = JobRequest(user_id=1, picture=b"p", params=DreamParams(steps=1), guide=b"guide")
    job = await backend.submit(sent)
    client = redis.Redis.from_url(empty_redis)
    keys = Keys()
    assert client.get(keys.guide(job.id)) == b"guide"
    assert 0 < client.ttl(keys.guide(job.id)) <= JOB_TTL_S
    fields = {k.decode(): v.decode() for k, v in client.hgetall(keys.job(job.id)).items()}
    assert request_from_fields(fields, b"p", b"guide") == sent
    assert request_from_fields(fields, b"").guide == b""  # a watcher knows it is guided
    assert request_fields(dataclasses.replace(sent, guide=None))["guided"] == ""
    job.cancel()
    with pytest.raises(JobCancelled):
        await asyncio.wait_for(job.result(), 60)
    assert not client.exists(keys.guide(job.id))
    client.close()
