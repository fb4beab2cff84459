"""The Celery backend against a real Redis without workers: limits shared by bot processes,
what a task message carries, cancelling a waiting job, the attempt limit, --check."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from bot.errors import JobCancelled, QueueFull, UserQueueFull
from bot.jobs import JobRequest, JobState
from bot.jobs.celery_app import queue_for
from bot.jobs.celery_backend import CeleryBackend, JobFailed
from bot.jobs.celery_store import (
    JOB_TTL_S,
    MAX_ATTEMPTS,
    POISON_MESSAGE,
    RESULT_TTL_S,
    START,
    Keys,
)
from engine import DreamParams

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
        backend = CeleryBackend(redis_url=empty_redis, **options)
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
        await asyncio.wait_for(job.result(), 5)
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
        await asyncio.wait_for(job.result(), 5)
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
    from bot.worker import WorkerSettings, check

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

    from bot.worker import WorkerSettings

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
    from bot.jobs.celery_store import (
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
        kind="zoom",
        animation={"frames": 12, "zoom": 1.05},
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
