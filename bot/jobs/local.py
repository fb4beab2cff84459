"""The in-process backend: a fair, capped queue on the event loop and one worker thread that runs
the engine, one job at a time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from bot.errors import JobCancelled, QueueFull, ShuttingDown, UserQueueFull
from bot.jobs.base import Job, JobKind, JobRequest, JobResult, JobState, JobStatus
from bot.jobs.fair import FairQueue
from bot.jobs.moving import run_moving
from engine.errors import DreamCancelled, DreamError
from engine.memory import release_freed_memory

if TYPE_CHECKING:
    from bot.settings import EngineSettings, Settings
    from engine import Dreamer, Encoded, Progress

__all__ = ["EngineRunner", "LocalBackend", "Runner"]

log = logging.getLogger(__name__)

# after the shutdown timeout the running job is cancelled; the engine stops within one step
_CANCEL_GRACE_S = 10.0
_NEVER_STARTED = "I'm restarting, so your dream never started. Please ask again in a minute."
_STOPPED_MID_DREAM = "I had to restart before your dream finished. Please ask again in a minute."


class Runner(Protocol):
    """Runs one job in the worker thread; built there by the backend's ``make_runner``."""

    def __call__(
        self,
        request: JobRequest,
        *,
        progress: Callable[[Progress], None],
        cancel: threading.Event,
    ) -> Encoded: ...


class EngineRunner:
    """The real engine: one `Dreamer` on one device, its models loaded when it is built."""

    def __init__(self, dreamer: Dreamer, *, preload: Sequence[str] = ()) -> None:
        self.dreamer = dreamer
        self.loaded: list[str] = []
        self.unavailable: dict[str, str] = {}
        for name in preload:
            started = time.perf_counter()
            try:
                dreamer.model(name)
            except Exception as error:  # the bot still serves the other models
                self.unavailable[name] = str(error)
                log.warning("Model %s is unavailable: %s", name, error)
            else:
                self.loaded.append(name)
                log.info(
                    "Loaded %s on %s in %.1f s", name, dreamer.device, time.perf_counter() - started
                )

    @classmethod
    def factory(cls, settings: Settings) -> Callable[[], EngineRunner]:
        """Build the runner (and its `Dreamer`) in the worker thread, where it will be used."""

        return functools.partial(cls.from_settings, settings)

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> EngineRunner:
        """The engine the settings describe: its device and CPU threads, its models loaded."""
        from engine import Dreamer, keep_freed_memory, use_cpu_threads

        use_cpu_threads(settings.dream_cpu_threads or None)
        keep_freed_memory()
        return cls(Dreamer(device=settings.dream_device), preload=settings.dream_models)

    def __call__(
        self,
        request: JobRequest,
        *,
        progress: Callable[[Progress], None],
        cancel: threading.Event,
    ) -> Encoded:
        try:
            match request.kind:
                case JobKind.DREAM:
                    return self.dreamer.dream_bytes(
                        request.picture,
                        request.params,
                        max_bytes=request.max_bytes,
                        guide=request.guide,
                        progress=progress,
                        cancel=cancel,
                    )
                case JobKind.ANIMATED | JobKind.ZOOM:
                    return run_moving(self.dreamer, request, progress=progress, cancel=cancel)
            raise ValueError(f"unknown kind of job {request.kind!r}")
        finally:
            # the passes kept what they freed (keep_freed_memory); an idle bot need not
            release_freed_memory()

    def describe(self) -> str:
        text = f"engine on {self.dreamer.device}, models {', '.join(self.loaded) or 'none'}"
        if self.unavailable:
            text += f" (unavailable: {', '.join(self.unavailable)})"
        return text


class _Slot:
    """A place held in a `LocalBackend` for one member."""

    def __init__(self, backend: LocalBackend, user_id: int) -> None:
        self._backend = backend
        self.user_id = user_id
        self.used = False

    async def submit(self, request: JobRequest) -> Job:
        if self.used:
            raise RuntimeError("this slot was already used")
        if request.user_id != self.user_id:
            raise ValueError("the request is not from the member who reserved the slot")
        self.used = True
        self._backend._release(self.user_id)
        return self._backend._enqueue(request)


class LocalBackend:
    """A `JobBackend` in this process: fair queue, global and per-member caps, one worker thread.

    ``make_runner`` is called once in the worker thread (so the engine is created there); a
    runner that fails to build is retried with the next job, which fails with its error.
    """

    def __init__(
        self,
        *,
        make_runner: Callable[[], Runner],
        queue_limit: int = 20,
        user_limit: int = 2,
    ) -> None:
        self._make_runner = make_runner
        self.queue_limit = queue_limit
        self.user_limit = user_limit
        self._queue: FairQueue[Job] = FairQueue()
        self._runner: Runner | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._warmup: asyncio.Future[Runner] | None = None
        self._running: Job | None = None
        self._cancel_running: threading.Event | None = None
        self._reserved: Counter[int] = Counter()  # places held while pictures download
        self._shutting_down = False
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBackend:
        return cls(
            make_runner=EngineRunner.factory(settings),
            queue_limit=settings.dream_queue_limit,
            user_limit=settings.dream_user_queue_limit,
        )

    @property
    def waiting(self) -> int:
        """How many jobs wait (the running one not counted)."""
        return len(self._queue)

    @property
    def running(self) -> int:
        """1 while a dream is being dreamed, else 0."""
        return 0 if self._running is None else 1

    @property
    def current(self) -> Job | None:
        """The job being dreamed now."""
        return self._running

    async def start(self) -> None:
        if self._dispatcher is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dream-worker")
        # the runner (engine, models) is built in the worker thread, in the background
        self._warmup = self._loop.run_in_executor(self._executor, self._get_runner)
        self._warmup.add_done_callback(self._warmed_up)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="dream-dispatcher")

    async def describe(self) -> str:
        if self._warmup is None:
            return "local queue (not started)"
        try:
            runner = await asyncio.shield(self._warmup)
        except Exception as error:
            return f"local queue; the engine failed to start: {error}"
        describe = getattr(runner, "describe", None)
        return f"local queue; {describe() if callable(describe) else 'runner ready'}"

    @contextlib.asynccontextmanager
    async def reserve(self, user_id: int) -> AsyncIterator[_Slot]:
        self._check(user_id)
        slot = _Slot(self, user_id)
        self._reserved[user_id] += 1
        try:
            yield slot
        finally:
            if not slot.used:
                self._release(user_id)

    async def submit(self, request: JobRequest) -> Job:
        async with self.reserve(request.user_id) as slot:
            return await slot.submit(request)

    async def close(self, *, timeout: float) -> None:
        if self._closed:
            return
        self._closed = self._shutting_down = True
        for job in self._queue.drain():
            job.set_error(ShuttingDown(_NEVER_STARTED))
        self._wakeup.set()
        if self._dispatcher is not None:
            done, _ = await asyncio.wait({self._dispatcher}, timeout=timeout)
            if not done and self._cancel_running is not None:
                log.warning("The running dream did not finish in %g s; cancelling it", timeout)
                self._cancel_running.set()
                done, _ = await asyncio.wait({self._dispatcher}, timeout=_CANCEL_GRACE_S)
            if not done:
                self._dispatcher.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        log.info("Local job queue closed")

    # internals, all on the event loop except _get_runner and _work (worker thread)

    def _check(self, user_id: int) -> None:
        if self._shutting_down or self._dispatcher is None:
            raise ShuttingDown()
        mine = self._queue.count(user_id) + self._reserved[user_id]
        if self._running is not None and self._running.request.user_id == user_id:
            mine += 1
        if mine >= self.user_limit:
            raise UserQueueFull(self.user_limit)
        if len(self._queue) + self._reserved.total() >= self.queue_limit:
            raise QueueFull(self.queue_limit)

    def _release(self, user_id: int) -> None:
        self._reserved[user_id] -= 1
        if self._reserved[user_id] <= 0:
            del self._reserved[user_id]

    def _enqueue(self, request: JobRequest) -> Job:
        if self._shutting_down:
            raise ShuttingDown()
        job = Job(request, on_cancel=self._cancel)
        self._queue.push(request.user_id, job)
        log.info("Queued %r (%d waiting)", job, len(self._queue))
        self._publish_positions()
        self._wakeup.set()
        return job

    def _publish_positions(self) -> None:
        for position, job in enumerate(self._queue, start=1):
            job.set_status(JobStatus(JobState.QUEUED, position=position))

    def _cancel(self, job: Job) -> None:
        if self._queue.remove(job):
            job.set_error(JobCancelled())
            self._publish_positions()
        elif job is self._running and self._cancel_running is not None:
            self._cancel_running.set()

    async def _dispatch(self) -> None:
        assert self._loop is not None and self._executor is not None
        while True:
            while not self._queue:
                if self._shutting_down:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            job = self._queue.pop()
            self._publish_positions()
            self._running, self._cancel_running = job, threading.Event()
            job.set_status(JobStatus(JobState.RUNNING))
            try:
                result = await self._loop.run_in_executor(
                    self._executor, self._work, job, self._cancel_running
                )
            except asyncio.CancelledError:  # close() gave up on a job that ignored its cancel
                job.set_error(ShuttingDown(_STOPPED_MID_DREAM))
                raise
            except Exception as error:
                job.set_error(self._explain_failure(job, error))
            else:
                job.set_result(result)
                log.info("Finished %r in %.1f s", job, result.seconds)
            finally:
                self._running = self._cancel_running = None

    def _explain_failure(self, job: Job, error: Exception) -> BaseException:
        if isinstance(error, DreamCancelled):
            log.info("Cancelled %r", job)
            if self._shutting_down:
                return ShuttingDown(_STOPPED_MID_DREAM)
            return JobCancelled()
        if isinstance(error, DreamError):
            log.info("%r failed: %s", job, error)
        else:
            log.warning("%r failed unexpectedly: %r", job, error)
        return error

    @staticmethod
    def _warmed_up(future: asyncio.Future[Runner]) -> None:
        if not future.cancelled() and (error := future.exception()) is not None:
            log.error("The engine failed to start (jobs will retry it): %s", error)

    def _get_runner(self) -> Runner:
        if self._runner is None:
            self._runner = self._make_runner()
        return self._runner

    def _work(self, job: Job, cancel: threading.Event) -> JobResult:
        loop = self._loop
        assert loop is not None

        def progress(update: Progress) -> None:
            # the loop may have closed under a job cancelled at shutdown
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(
                    job.set_status, JobStatus(JobState.RUNNING, progress=update)
                )

        runner = self._get_runner()
        started = time.perf_counter()
        picture = runner(job.request, progress=progress, cancel=cancel)
        return JobResult(picture=picture, seconds=time.perf_counter() - started)
