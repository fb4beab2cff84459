"""The Celery backend's bot side: jobs go to worker processes through Redis; this side keeps the
limits in Redis, watches progress and results, requeues the jobs of dead workers (lapsed leases)
and takes over the jobs a stopped bot process left."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.errors import BotError, JobCancelled, QueueFull, ShuttingDown, UserQueueFull
from bot.jobs.base import Job, JobRequest, JobResult, JobState, JobStatus
from bot.jobs.celery.app import TASK_NAME, make_celery, queue_for, safe_url
from bot.jobs.celery.store import (
    ADOPT,
    CANCEL,
    FINISH,
    JOB_TTL_S,
    MAX_ATTEMPTS,
    POISON_MESSAGE,
    REAP,
    RESERVE,
    RESULT_TTL_S,
    SLOT_TTL_S,
    SUBMIT,
    Keys,
    decode_fields,
    decode_progress,
    request_fields,
    request_from_fields,
    text,
)
from bot.jobs.codec import CodecError
from engine import errors as engine_errors
from engine.pictures import Encoded

if TYPE_CHECKING:
    from celery import Celery

    from bot.settings import Settings

__all__ = ["CeleryBackend", "JobFailed", "read_workers"]

log = logging.getLogger(__name__)

# how often the watcher looks at its jobs when no event woke it (queue positions move silently)
POLL_S = 1.0
# a bot process refreshes its heartbeat this often; jobs of a process silent for 3 beats are
# taken over by another one (or by the same bot after a restart); as often, it requeues the jobs
# whose worker's lease lapsed
HEARTBEAT_S = 5.0
# a job stored but never published (its bot died in between) is published again after this
_UNPUBLISHED_S = 30.0
_CARRIES_ON = "I'm restarting; your dream carries on and I'll post it here as soon as I'm back."
_LOST = "I lost track of this dream (it waited too long). Please ask again."


class JobFailed(BotError):
    """A dream the workers could not finish (it failed every time, or its job was lost)."""


async def read_workers(client: aioredis.Redis, keys: Keys) -> list[dict[str, Any]]:
    """The workers whose heartbeat is fresh: name, device, models, the job they run."""
    names = [name async for name in client.scan_iter(match=keys.workers_pattern, count=100)]
    if not names:
        return []
    found = [json.loads(raw) for raw in await client.mget(names) if raw]
    return sorted(found, key=lambda worker: str(worker.get("name")))


class _Slot:
    """A place held in Redis for one member while their picture downloads."""

    def __init__(self, backend: CeleryBackend, user_id: int, member: str) -> None:
        self._backend = backend
        self.user_id = user_id
        self.member = member
        self.used = False

    async def submit(self, request: JobRequest) -> Job:
        if self.used:
            raise RuntimeError("this slot was already used")
        if request.user_id != self.user_id:
            raise ValueError("the request is not from the member who reserved the slot")
        self.used = True
        try:
            return await self._backend._submit(self.member, request)
        except BaseException:
            self.used = False  # the place is given back
            raise


class CeleryBackend:
    """A `JobBackend` whose dreams run on `deepdream-worker` processes, through Redis.

    Limits are counted in Redis (atomic scripts), so several bot processes share them. Jobs are
    durable: closing the bot leaves them running, and the next bot process to start (or any
    live one) takes them over and hands each to ``on_resumed``, which answers the member.
    """

    def __init__(
        self,
        *,
        redis_url: str,
        queue_limit: int = 20,
        user_limit: int = 2,
        models: Sequence[str] = (),
        keys: Keys | None = None,
        visibility_timeout: float = 900,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.redis_url = redis_url
        self.queue_limit = queue_limit
        self.user_limit = user_limit
        self.models = tuple(models)
        self.keys = keys or Keys()
        self.instance = uuid.uuid4().hex[:12]
        self.on_resumed: Callable[[Job], Awaitable[None]] | None = None
        self._visibility_timeout = visibility_timeout
        self.heartbeat_s = heartbeat_s
        self._redis: aioredis.Redis | None = None
        self._app: Celery | None = None
        self._watched: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._monitor: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._workers_seen: tuple[str, ...] | None = None
        self._counts = (0, 0)  # waiting, running: everyone's, as last read from Redis
        self._counted = 0.0
        self._unsent: dict[str, str] = {}  # requeued jobs whose task could not be sent yet
        self._closing = False
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> CeleryBackend:
        return cls(
            redis_url=settings.dream_redis_url,
            queue_limit=settings.dream_queue_limit,
            user_limit=settings.dream_user_queue_limit,
            models=settings.dream_models,
        )

    @property
    def waiting(self) -> int:
        """Everyone's jobs waiting to start, as last read from Redis (about every second)."""
        return self._counts[0]

    @property
    def running(self) -> int:
        """Everyone's jobs being dreamed now (holding a worker's lease), as last read."""
        return self._counts[1]

    @property
    def watched(self) -> tuple[Job, ...]:
        """The jobs this bot process answers (its own and those it took over)."""
        return tuple(self._watched.values())

    async def start(self) -> None:
        if self._redis is not None:
            return
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            await client.ping()
        except RedisError as error:
            await client.aclose()
            raise ConnectionError(
                f"Could not reach Redis at {safe_url(self.redis_url)} (DREAM_REDIS_URL): {error}"
            ) from error
        self._redis = client
        self._reserve = client.register_script(RESERVE)
        self._submit_script = client.register_script(SUBMIT)
        self._adopt = client.register_script(ADOPT)
        self._cancel_script = client.register_script(CANCEL)
        self._finish = client.register_script(FINISH)
        self._reap_script = client.register_script(REAP)
        self._app = make_celery(self.redis_url, visibility_timeout=self._visibility_timeout)
        await self._beat()
        await self._count()
        self._listener = asyncio.create_task(self._listen(), name="dream-events")
        # jobs a stopped bot left are taken over at the first heartbeat, once the bot has
        # loaded what answers them (on_resumed)
        self._monitor = asyncio.create_task(self._watch_loop(), name="dream-watcher")
        log.info("Celery backend %s connected to %s", self.instance, safe_url(self.redis_url))

    async def describe(self) -> str:
        if self._redis is None:
            return "Celery workers (not started)"
        workers = await read_workers(self._redis, self.keys)
        waiting = await self._redis.zcard(self.keys.waiting)
        busy = sum(1 for worker in workers if worker.get("job"))
        served = {model for worker in workers for model in worker.get("models", ())}
        listed = "; ".join(
            f"{w.get('name')} on {w.get('device')}: {', '.join(w.get('models', ())) or 'no models'}"
            for w in workers
        )
        text = (
            f"Celery workers via {safe_url(self.redis_url)}: {len(workers)} connected"
            f"{f' ({listed})' if listed else ''}; {waiting} waiting, {busy} running"
        )
        unserved = [model for model in self.models if model not in served]
        if unserved:
            text += f"; no worker serves {', '.join(unserved)} yet"
        return text

    @contextlib.asynccontextmanager
    async def reserve(self, user_id: int) -> AsyncIterator[_Slot]:
        client = self._client()
        member = f"{user_id}:{uuid.uuid4().hex}"
        verdict = await self._reserve(
            keys=[self.keys.slots, self.keys.user(user_id), self.keys.waiting],
            args=[SLOT_TTL_S, JOB_TTL_S, user_id, member, self.user_limit, self.queue_limit],
        )
        if verdict == -1:
            raise UserQueueFull(self.user_limit)
        if verdict == -2:
            raise QueueFull(self.queue_limit)
        slot = _Slot(self, user_id, member)
        try:
            yield slot
        finally:
            if not slot.used:
                with contextlib.suppress(RedisError):
                    await client.zrem(self.keys.slots, member)

    async def submit(self, request: JobRequest) -> Job:
        async with self.reserve(request.user_id) as slot:
            return await slot.submit(request)

    async def close(self, *, timeout: float) -> None:
        if self._closed:
            return
        self._closing = True
        # jobs outlive the bot: only a dream being made now gets the time to finish here
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            job.status.state is JobState.RUNNING for job in self._watched.values()
        ):
            await asyncio.sleep(0.1)
        self._closed = True
        self._wake.set()
        # redis-py may swallow a cancellation mid-command: the watcher stops by itself instead
        tasks = {task for task in (self._monitor, self._listener) if task is not None}
        if self._listener is not None:
            self._listener.cancel()
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=5)
            for task in late:
                task.cancel()
        left = [job for job in self._watched.values() if not job.done()]
        for job in left:
            job.set_error(ShuttingDown(_CARRIES_ON))
        self._watched.clear()
        if self._redis is not None:
            # without this process's heartbeat, the next bot takes its jobs over at once
            with contextlib.suppress(RedisError):
                await self._redis.delete(self.keys.bot(self.instance))
            await self._redis.aclose()
        if self._app is not None:
            await asyncio.to_thread(self._app.close)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        log.info("Celery backend closed; %d jobs carry on without this bot process", len(left))

    # internals

    def _client(self) -> aioredis.Redis:
        if self._closing or self._redis is None:
            raise ShuttingDown()
        return self._redis

    async def _submit(self, member: str, request: JobRequest) -> Job:
        self._client()
        job = Job(request, on_cancel=self._cancel)
        fields = request_fields(request) | {"watcher": self.instance}
        model = request.params.model
        position = await self._submit_script(
            keys=[
                self.keys.slots,
                self.keys.user(request.user_id),
                self.keys.waiting,
                self.keys.waiting_for(model),
                self.keys.pending,
                self.keys.job(job.id),
                self.keys.picture_in(job.id),
                self.keys.guide(job.id),
            ],
            args=[member, job.id, JOB_TTL_S, request.picture, request.guide or b"", *_flat(fields)],
        )
        job.set_status(JobStatus(JobState.QUEUED, position=int(position)))
        self._watched[job.id] = job
        try:
            await asyncio.to_thread(self._publish, job.id, model)
        except Exception:
            del self._watched[job.id]
            failed = ["failed", "", "error", "JobFailed"]
            await self._finish(args=[self.keys.prefix, job.id, RESULT_TTL_S, "", *failed])
            await self._client().zrem(self.keys.pending, job.id)
            raise
        await self._client().hset(self.keys.job(job.id), "published", "1")
        log.info("Queued %r on %s", job, queue_for(model))
        self._wake.set()
        return job

    def _publish(self, job_id: str, model: str) -> None:
        assert self._app is not None
        # the message names the job only; the picture and the settings wait in Redis
        self._app.send_task(TASK_NAME, args=[job_id], queue=queue_for(model), task_id=job_id)

    def _cancel(self, job: Job) -> None:
        if self._redis is None or self._closed:
            return
        self._spawn(self._cancel_script(args=[self.keys.prefix, job.id, RESULT_TTL_S]))
        self._wake.set()

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    async def _beat(self) -> None:
        assert self._redis is not None
        await self._redis.set(self.keys.bot(self.instance), "1", px=int(3000 * self.heartbeat_s))

    async def _listen(self) -> None:
        """Wake the watcher whenever a worker says one of our jobs changed."""
        assert self._redis is not None
        while not self._closed:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.keys.events)
                    async for message in pubsub.listen():
                        kind, data = message.get("type"), message.get("data")
                        if kind == "message" and data.decode() in self._watched:
                            self._wake.set()
            except RedisError as error:
                log.warning("Lost the Redis event channel (%s); retrying", error)
                await asyncio.sleep(POLL_S)

    async def _watch_loop(self) -> None:
        last_beat = time.monotonic()
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(POLL_S, self.heartbeat_s)):
                    await self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            try:
                if self._watched:
                    await self._refresh()
                if time.monotonic() - self._counted >= POLL_S:
                    await self._count()
                if time.monotonic() - last_beat >= self.heartbeat_s:
                    last_beat = time.monotonic()
                    await self._beat()
                    await self._requeue_lapsed()
                    await self._adopt_orphans()
                    await self._log_workers()
            except RedisError as error:
                log.warning("Redis error while watching jobs (%s); retrying", error)
                await asyncio.sleep(POLL_S)
            except Exception:
                log.exception("Unexpected error while watching jobs")
                await asyncio.sleep(POLL_S)
            # progress events come every step: let a few gather
            await asyncio.sleep(0.05)

    async def _refresh(self) -> None:
        assert self._redis is not None
        jobs = list(self._watched.values())
        async with self._redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                pipe.hmget(self.keys.job(job.id), _STATUS_FIELDS)
                pipe.zrank(self.keys.waiting_for(job.request.params.model), job.id)
            replies = await pipe.execute()
        for job, values, rank in zip(jobs, replies[::2], replies[1::2], strict=True):
            fields = {
                name: value.decode()
                for name, value in zip(_STATUS_FIELDS, values, strict=True)
                if value is not None
            }
            state = fields.get("state")
            if state is None:
                await self._answer(job, {"state": "failed", "error": "JobFailed", "message": _LOST})
            elif state in ("done", "failed"):
                await self._answer(job, fields)
            elif state == "queued" and rank is not None:
                job.set_status(JobStatus(JobState.QUEUED, position=rank + 1))
            else:
                progress = decode_progress(fields.get("progress"))
                job.set_status(JobStatus(JobState.RUNNING, progress=progress))

    async def _answer(self, job: Job, fields: dict[str, str]) -> None:
        """Resolve a finished job, once across all bot processes (SET NX on its posted key)."""
        assert self._redis is not None
        del self._watched[job.id]
        claimed = await self._redis.set(
            self.keys.posted(job.id), self.instance, nx=True, ex=RESULT_TTL_S
        )
        if not claimed:
            log.warning("%r was already answered by another bot process", job)
            return
        # the result is taken, then nothing of the job is kept but its state, for a while
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self.keys.picture_out(job.id))
            pipe.delete(
                self.keys.picture_out(job.id), self.keys.picture_in(job.id), self.keys.guide(job.id)
            )
            pipe.zrem(self.keys.pending, job.id)
            pipe.expire(self.keys.job(job.id), 600)
            data, *_ = await pipe.execute()
        if fields["state"] != "done":
            error = _error(fields)
            log.info("%r failed: %s", job, error)
            job.set_error(error)
        elif data is None:
            job.set_error(JobFailed(_LOST))
        else:
            picture = Encoded(data=data, format=fields["format"], filename=fields["filename"])
            job.set_result(JobResult(picture=picture, seconds=float(fields["seconds"])))
            log.info("Finished %r on %s", job, fields.get("worker", "?"))

    async def _count(self) -> None:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.waiting)
            pipe.zcard(self.keys.running)
            waiting, running = await pipe.execute()
        self._counts = (int(waiting), int(running))
        self._counted = time.monotonic()

    async def _requeue_lapsed(self) -> None:
        """Send again the task of every job whose worker stopped renewing its lease (died, or
        lost Redis): REAP hands each lapse to one bot process only. A job out of attempts
        fails there instead, its member told."""
        assert self._redis is not None
        if self._closing:
            return
        handled = await self._reap_script(
            args=[self.keys.prefix, MAX_ATTEMPTS, RESULT_TTL_S, POISON_MESSAGE]
        )
        for index in range(0, len(handled), 3):
            job_id, model, verdict = (text(item) for item in handled[index : index + 3])
            if verdict == "requeued":
                log.warning("The worker of job %s stopped renewing its lease; requeued", job_id)
                self._unsent[job_id] = model
            else:
                log.warning("Job %s lost its worker on its last attempt; gave up", job_id)
        # taken out before sending, so that two rounds at once never send one task twice
        for job_id in list(self._unsent):
            if job_id not in self._unsent:
                continue
            model = self._unsent.pop(job_id)
            try:
                await asyncio.to_thread(self._publish, job_id, model)
            except Exception as error:  # the next heartbeat tries again
                self._unsent[job_id] = model
                log.warning("Could not requeue job %s yet: %s", job_id, error)

    async def _adopt_orphans(self) -> None:
        """Watch the unanswered jobs no live bot process watches (left by a stopped one)."""
        assert self._redis is not None
        if self._closing:
            return
        taken: list[Job] = []
        for raw in await self._redis.zrange(self.keys.pending, 0, -1):
            job_id = text(raw)
            if job_id in self._watched:
                continue
            adopted = await self._adopt(args=[self.keys.prefix, job_id, self.instance])
            if adopted != 1:
                continue
            fields = decode_fields(await self._redis.hgetall(self.keys.job(job_id)))
            try:
                request = request_from_fields(fields, picture=b"")
            except CodecError as error:
                log.warning("Dropping job %s: its request cannot be read (%s)", job_id, error)
                await self._redis.zrem(self.keys.pending, job_id)
                continue
            job = Job(request, on_cancel=self._cancel)
            job.id = job_id
            self._watched[job_id] = job
            if not fields.get("published") and time.time() - float(fields["created"]) > (
                _UNPUBLISHED_S
            ):
                await asyncio.to_thread(self._publish, job_id, request.params.model)
                await self._redis.hset(self.keys.job(job_id), "published", "1")
            log.info("Took over %r (%s)", job, fields.get("state"))
            taken.append(job)
        if not taken:
            return
        await self._refresh()  # each handed over with its place in the queue or its progress
        for job in taken:
            if self.on_resumed is not None:
                self._spawn(self.on_resumed(job))

    async def _log_workers(self) -> None:
        assert self._redis is not None
        workers = await read_workers(self._redis, self.keys)
        names = tuple(str(worker.get("name")) for worker in workers)
        if names != self._workers_seen:
            self._workers_seen = names
            log.info("Dreams run on: %s", await self.describe())


_STATUS_FIELDS = (
    "state",
    "progress",
    "error",
    "message",
    "seconds",
    "format",
    "filename",
    "worker",
)


def _flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]


def _error(fields: dict[str, str]) -> BaseException:
    """The member's error for a failed job, from the kind and message its worker stored."""
    kind, message = fields.get("error", ""), fields.get("message", "")
    if kind == "JobCancelled":
        return JobCancelled()
    if kind == "CodecError" and message:
        return CodecError(message)
    cls = getattr(engine_errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, engine_errors.DreamError) and message:
        return cls(message)
    return JobFailed(message or "This dream failed on my side. Please try again later.")


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("A job task failed", exc_info=error)
