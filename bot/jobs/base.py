"""The job interface the cogs use, whatever runs the dreams: request, status, result, a job handle
and the `JobBackend` protocol both backends (the local queue, Celery workers) implement."""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from engine import AnimationParams, DreamParams, Encoded, Progress, ZoomParams

__all__ = [
    "Job",
    "JobBackend",
    "JobKind",
    "JobRequest",
    "JobResult",
    "JobState",
    "JobStatus",
    "Origin",
    "Resumable",
    "Slot",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Origin:
    """Where a job's answer goes when another bot process finishes it (after a restart): the
    interaction's webhook while its token lives, the channel after."""

    application_id: int
    token: str = field(repr=False)
    channel_id: int | None
    user_id: int
    # unix time the interaction was created (its token lives 15 minutes from then)
    created_at: float


class JobKind(enum.StrEnum):
    """What a job makes: one picture, every frame of an animation, or a zoom."""

    DREAM = "dream"
    ANIMATED = "animated"
    ZOOM = "zoom"


@dataclass(frozen=True, kw_only=True, slots=True)
class JobRequest:
    """One dream to run: whose it is, the picture as downloaded, and how to dream it."""

    user_id: int
    picture: bytes = field(repr=False)
    params: DreamParams
    # the encoded result must fit in this many bytes (the channel's upload limit); None: no limit
    max_bytes: int | None = None
    # where to answer if this bot process is gone by the time the dream is done (Celery backend)
    origin: Origin | None = None
    kind: JobKind = JobKind.DREAM
    # AnimationParams for an animated job, ZoomParams for a zoom (None: the engine's defaults)
    animation: AnimationParams | ZoomParams | None = None
    # a still dream's guide picture, as downloaded (the dream is steered towards its features)
    guide: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class JobResult:
    """A finished dream: the encoded picture and the seconds the engine spent on it."""

    picture: Encoded = field(repr=False)
    seconds: float


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED)


@dataclass(frozen=True, slots=True)
class JobStatus:
    """Where a job is: its queue position (1 = next) while queued, its progress while running."""

    state: JobState
    position: int | None = None
    progress: Progress | None = None

    @property
    def finished(self) -> bool:
        return self.state.finished


class Job:
    """A handle on one submitted dream, living on the event loop.

    Cogs read it (`status`, `watch()`, `result()`) and may `cancel()` it; only its backend moves it
    on (`set_status`, `set_result`, `set_error`), always from the event loop's thread.
    """

    def __init__(self, request: JobRequest, *, on_cancel: Callable[[Job], None]) -> None:
        self.id = uuid.uuid4().hex
        self.request = request
        self._on_cancel = on_cancel
        self._status = JobStatus(JobState.QUEUED)
        self._version = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._result: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        # the error reaches the member through result(); don't also warn when nobody asked
        self._result.add_done_callback(lambda f: f.cancelled() or f.exception())

    def __repr__(self) -> str:
        return f"<Job {self.id[:8]} user={self.request.user_id} {self._status.state.value}>"

    @property
    def status(self) -> JobStatus:
        return self._status

    def done(self) -> bool:
        return self._result.done()

    def cancel(self) -> None:
        """Ask the backend to drop the job if queued, or stop it within one step if running."""
        if not self.done():
            self._on_cancel(self)

    async def watch(self) -> AsyncIterator[JobStatus]:
        """Yield the latest status whenever it changed (missed ones coalesce); the last is final."""
        seen = -1
        while True:
            if self._version == seen:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter
                continue
            seen = self._version
            status = self._status
            yield status
            if status.finished:
                return

    async def result(self) -> JobResult:
        """The dream, or the error that stopped it (an engine `DreamError` or a `BotError`)."""
        return await asyncio.shield(self._result)

    # the backend's side

    def set_status(self, status: JobStatus) -> None:
        if self.done() or status == self._status or status.finished:
            return
        self._publish(status)

    def set_result(self, result: JobResult) -> None:
        if self.done():
            return
        self._result.set_result(result)
        self._publish(JobStatus(JobState.DONE))

    def set_error(self, error: BaseException) -> None:
        if self.done():
            return
        self._result.set_exception(error)
        self._publish(JobStatus(JobState.FAILED))

    def _publish(self, status: JobStatus) -> None:
        self._status = status
        self._version += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class Slot(Protocol):
    """A place in the queue held for one member while their picture downloads."""

    async def submit(self, request: JobRequest) -> Job:
        """Queue the dream in this place (once); `ShuttingDown` if the backend closed meanwhile."""


class JobBackend(Protocol):
    """What runs the dreams, as `DREAM_BACKEND` chose (bot/jobs/backends.py); the cogs see only
    this.

    Admission is two-phase so the limits hold while pictures download::

        async with backend.reserve(user_id) as slot:   # QueueFull / UserQueueFull / ShuttingDown
            ...                                        # answer Discord, download the picture
            job = await slot.submit(request)           # an unused slot is given back on exit
    """

    @property
    def waiting(self) -> int:
        """Everyone's jobs waiting to start (on every bot process sharing the backend)."""

    @property
    def running(self) -> int:
        """How many dreams are being dreamed now, everyone's (0 or 1 for the local queue)."""

    async def start(self) -> None:
        """Start taking work (threads, connections, model loading may go on in the background)."""

    async def describe(self) -> str:
        """One line for the log: where the dreams run and which models are ready."""

    def reserve(self, user_id: int) -> AbstractAsyncContextManager[Slot]:
        """Hold a place for this member's next job, counted against the limits until released."""

    async def submit(self, request: JobRequest) -> Job:
        """Reserve and submit at once."""

    async def close(self, *, timeout: float) -> None:
        """Stop taking work, fail queued jobs with `ShuttingDown`, let the running one finish
        within ``timeout`` seconds (then cancel it), and release threads and connections."""


@runtime_checkable
class Resumable(Protocol):
    """A backend whose jobs outlive the bot process (Celery): on start it hands back the jobs a
    stopped bot left, each to ``on_resumed``, which answers the member."""

    on_resumed: Callable[[Job], Awaitable[None]] | None
