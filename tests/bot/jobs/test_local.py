"""Tests for bot/jobs/local.py: the in-process backend with a stand-in runner (no engine)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from bot.errors import JobCancelled, QueueFull, ShuttingDown, UserQueueFull
from bot.jobs import Job, JobKind, JobRequest, JobState, JobStatus, LocalBackend
from engine import DreamCancelled, DreamParams, Encoded, Progress, UnknownLayer


class Runner:
    """Records whose jobs ran; while ``gate`` is clear each job waits (and honours cancel)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.order: list[int] = []
        self.errors: dict[int, Exception] = {}
        self.threads: set[str] = set()
        self.steps = 1

    def __call__(
        self,
        request: JobRequest,
        *,
        progress: Callable[[Progress], None],
        cancel: threading.Event,
    ) -> Encoded:
        self.threads.add(threading.current_thread().name)
        self.order.append(request.user_id)
        self.started.set()
        while not self.gate.wait(0.01):
            if cancel.is_set():
                raise DreamCancelled("The dream was cancelled.")
        if request.user_id in self.errors:
            raise self.errors[request.user_id]
        for step in range(1, self.steps + 1):
            progress(Progress(octave=1, octaves=1, step=step, steps=self.steps))
        return Encoded(data=b"png", format="PNG", filename="dream.png")


def request(user: int) -> JobRequest:
    return JobRequest(user_id=user, picture=b"picture", params=DreamParams(), max_bytes=1000)


async def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


@pytest.fixture
def runner() -> Runner:
    return Runner()


@pytest.fixture
async def backend(runner: Runner) -> AsyncIterator[LocalBackend]:
    jobs = LocalBackend(make_runner=lambda: runner, queue_limit=20, user_limit=5)
    await jobs.start()
    yield jobs
    runner.gate.set()
    await jobs.close(timeout=60)


async def hold_worker(backend: LocalBackend, runner: Runner, user: int = 99) -> Job:
    """Submit a job that blocks the worker until ``runner.gate`` is set."""
    runner.gate.clear()
    running = await backend.submit(request(user))
    await wait_for(runner.started.is_set)
    return running


async def test_job_runs_and_returns_the_runners_picture(backend: LocalBackend) -> None:
    """A submitted job runs in the worker and its result carries the picture and the time taken."""
    job = await backend.submit(request(1))
    result = await job.result()
    assert result.picture.data == b"png" and result.seconds >= 0
    assert job.status.state is JobState.DONE


async def test_runner_is_built_and_run_in_the_worker_thread(runner: Runner) -> None:
    """make_runner is called in the worker thread, never on the event loop's thread."""
    built_in: list[str] = []

    def make() -> Runner:
        built_in.append(threading.current_thread().name)
        return runner

    jobs = LocalBackend(make_runner=make)
    await jobs.start()
    await (await jobs.submit(request(1))).result()
    await jobs.close(timeout=5)
    assert built_in == [next(iter(runner.threads))]
    assert built_in[0] != threading.current_thread().name
    assert built_in[0].startswith("dream-worker")


async def test_queue_is_fair_across_users(backend: LocalBackend, runner: Runner) -> None:
    """Jobs run round-robin between members, not first-come across all, positions to match."""
    await hold_worker(backend, runner, user=1)
    submitted = [await backend.submit(request(u)) for u in (1, 1, 2, 2, 3)]
    positions = [(job.request.user_id, job.status.position) for job in submitted]
    assert positions == [(1, 3), (1, 5), (2, 1), (2, 4), (3, 2)]
    runner.gate.set()
    await asyncio.gather(*(job.result() for job in submitted))
    assert runner.order == [1, 2, 3, 1, 2, 1]


async def test_positions_move_up_as_jobs_start(backend: LocalBackend, runner: Runner) -> None:
    """A queued job's position is updated as the jobs ahead of it start."""
    await hold_worker(backend, runner)
    first, second = await backend.submit(request(1)), await backend.submit(request(2))
    assert (first.status.position, second.status.position) == (1, 2)
    seen: list[JobStatus] = []

    async def watch() -> None:
        async for status in second.watch():
            seen.append(status)

    watcher = asyncio.create_task(watch())
    runner.gate.set()
    await second.result()
    await watcher
    states = [(s.state, s.position) for s in seen]
    assert states[0] == (JobState.QUEUED, 2)
    assert (JobState.QUEUED, 1) in states
    assert states[-1] == (JobState.DONE, None)


async def test_progress_reaches_the_loop(backend: LocalBackend, runner: Runner) -> None:
    """Progress reported in the worker thread shows up in the job's status on the loop."""
    runner.steps = 3
    job = await backend.submit(request(1))
    progress: list[Progress] = []
    async for status in job.watch():
        if status.progress is not None:
            progress.append(status.progress)
    assert progress and progress[-1].step <= 3
    assert all(p.steps == 3 for p in progress)


async def test_user_limit_counts_queued_and_running(backend: LocalBackend, runner: Runner) -> None:
    """Over the per-user limit (running + queued) a member gets UserQueueFull; others get in."""
    backend.user_limit = 2
    await hold_worker(backend, runner, user=1)
    await backend.submit(request(1))
    with pytest.raises(UserQueueFull, match="2 dreams"):
        await backend.submit(request(1))
    await backend.submit(request(2))


async def test_global_limit_raises_queue_full(backend: LocalBackend, runner: Runner) -> None:
    """When dream_queue_limit jobs wait, the next job gets QueueFull with a friendly message."""
    backend.queue_limit = 2
    await hold_worker(backend, runner)
    await backend.submit(request(1))
    await backend.submit(request(2))
    with pytest.raises(QueueFull, match="queue is full"):
        await backend.submit(request(3))
    assert backend.waiting == 2


async def test_reserved_places_count_against_the_limits(
    backend: LocalBackend, runner: Runner
) -> None:
    """A held slot (picture still downloading) counts for its member and for the global cap."""
    backend.user_limit, backend.queue_limit = 1, 2
    await hold_worker(backend, runner)
    async with backend.reserve(1) as slot:
        with pytest.raises(UserQueueFull):
            async with backend.reserve(1):
                pass
        async with backend.reserve(2):
            with pytest.raises(QueueFull):
                await backend.submit(request(3))
        job = await slot.submit(request(1))
    assert job.status.position == 1 and backend.waiting == 1
    with pytest.raises(UserQueueFull):
        await backend.submit(request(1))


async def test_an_unused_slot_is_given_back(backend: LocalBackend, runner: Runner) -> None:
    """Leaving reserve() without submitting (a failed download) frees the place."""
    backend.user_limit = 1
    with pytest.raises(RuntimeError):
        async with backend.reserve(1):
            raise RuntimeError("download failed")
    await (await backend.submit(request(1))).result()


async def test_a_slot_held_across_close_is_refused(backend: LocalBackend) -> None:
    """If the bot starts closing while a picture downloads, submitting raises ShuttingDown."""
    async with backend.reserve(1) as slot:
        await backend.close(timeout=1)
        with pytest.raises(ShuttingDown):
            await slot.submit(request(1))


async def test_cancel_a_queued_job(backend: LocalBackend, runner: Runner) -> None:
    """Cancelling a queued job fails it with JobCancelled, never runs it, and moves the rest up."""
    await hold_worker(backend, runner)
    doomed, other = await backend.submit(request(1)), await backend.submit(request(2))
    doomed.cancel()
    with pytest.raises(JobCancelled):
        await doomed.result()
    assert other.status.position == 1
    runner.gate.set()
    await other.result()
    assert 1 not in runner.order


async def test_cancel_the_running_job(backend: LocalBackend, runner: Runner) -> None:
    """Cancelling the running job stops it (JobCancelled) and the queue goes on."""
    running = await hold_worker(backend, runner)
    waiting = await backend.submit(request(2))
    running.cancel()
    with pytest.raises(JobCancelled):
        await running.result()
    runner.gate.set()
    assert (await waiting.result()).picture.data == b"png"


async def test_worker_continues_after_a_job_error(backend: LocalBackend, runner: Runner) -> None:
    """An unexpected exception fails only its job; engine errors pass through as they are."""
    runner.errors[1] = RuntimeError("boom")
    runner.errors[2] = UnknownLayer("There is no layer 'x'.")
    failing, refused, fine = [await backend.submit(request(u)) for u in (1, 2, 3)]
    with pytest.raises(RuntimeError, match="boom"):
        await failing.result()
    with pytest.raises(UnknownLayer, match="no layer"):
        await refused.result()
    assert (await fine.result()).picture.data == b"png"
    assert failing.status.state is JobState.FAILED


async def test_a_runner_that_fails_to_build_fails_jobs_and_is_retried(runner: Runner) -> None:
    """If building the runner raises, the job fails with that error and the next job tries again."""
    attempts: list[int] = []

    def make() -> Runner:
        attempts.append(1)
        if len(attempts) <= 2:  # the warm-up and the first job
            raise RuntimeError("no device")
        return runner

    jobs = LocalBackend(make_runner=make)
    await jobs.start()
    with pytest.raises(RuntimeError, match="no device"):
        await (await jobs.submit(request(1))).result()
    assert (await (await jobs.submit(request(1))).result()).picture.data == b"png"
    await jobs.close(timeout=5)


async def test_close_lets_the_running_job_finish_and_fails_queued_ones(
    backend: LocalBackend, runner: Runner
) -> None:
    """close() refuses new jobs, fails queued ones (ShuttingDown), lets the running one finish."""
    running = await hold_worker(backend, runner)
    queued = await backend.submit(request(2))
    closing = asyncio.create_task(backend.close(timeout=60))
    with pytest.raises(ShuttingDown, match="never started"):
        await queued.result()
    with pytest.raises(ShuttingDown):
        await backend.submit(request(3))
    assert not closing.done()
    runner.gate.set()
    await closing
    assert (await running.result()).picture.data == b"png"


async def test_close_cancels_a_job_that_outlives_the_timeout(
    backend: LocalBackend, runner: Runner
) -> None:
    """A running job still going after the shutdown timeout is cancelled and told why."""
    running = await hold_worker(backend, runner)
    await backend.close(timeout=0.05)
    with pytest.raises(ShuttingDown, match="restart"):
        await running.result()


async def test_submit_before_start_is_refused() -> None:
    """A backend that was not started (or already closed) refuses work with ShuttingDown."""
    jobs = LocalBackend(make_runner=Runner)
    with pytest.raises(ShuttingDown):
        await jobs.submit(request(1))
    await jobs.close(timeout=1)


async def test_a_job_that_ignores_cancel_is_abandoned_at_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the running job ignores its cancel past the grace period, close() returns anyway."""
    import bot.jobs.local as local

    monkeypatch.setattr(local, "_CANCEL_GRACE_S", 0.05)
    release = threading.Event()
    started = threading.Event()

    def stubborn(request: JobRequest, *, progress: object, cancel: threading.Event) -> Encoded:
        started.set()
        release.wait(60)
        return Encoded(data=b"late", format="PNG", filename="dream.png")

    jobs = LocalBackend(make_runner=lambda: stubborn)
    await jobs.start()
    job = await jobs.submit(request(1))
    await wait_for(started.is_set)
    await jobs.close(timeout=0.05)
    release.set()
    with pytest.raises(ShuttingDown, match="before your dream finished"):
        await job.result()


def test_engine_runner_from_settings_sets_the_cpu_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner the settings build uses their device, CPU threads and models, and keeps the
    memory its passes free for the next pass."""
    import torch

    import engine
    from bot.jobs.local import EngineRunner
    from bot.settings import EngineSettings

    kept: list[bool] = []
    monkeypatch.setattr(engine, "keep_freed_memory", lambda: kept.append(True) or True)
    before = torch.get_num_threads()
    try:
        settings = EngineSettings(_env_file=None, dream_device="cpu", dream_cpu_threads=1)  # type: ignore[call-arg]
        runner = EngineRunner.from_settings(settings)
        assert torch.get_num_threads() == 1
        assert runner.loaded == ["efficientnet_lite0"]
        assert kept == [True]
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("fails", [False, True])
def test_engine_runner_hands_memory_back_after_each_job(
    monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """The guide picture reaches the engine; the memory the passes kept is released once the
    job ended, failed or not."""
    import bot.jobs.local as local

    released: list[int] = []

    class Dreamer:
        def dream_bytes(self, *args: object, **kwargs: object) -> Encoded:
            assert not released, "released before the job ended"
            assert kwargs["guide"] == b"guide"
            if fails:
                raise UnknownLayer("no such layer")
            return Encoded(data=b"png", format="PNG", filename="dream.png")

    monkeypatch.setattr(local, "release_freed_memory", lambda: released.append(1))
    runner = local.EngineRunner(Dreamer())  # type: ignore[arg-type]
    guided = dataclasses.replace(request(1), guide=b"guide")
    if fails:
        with pytest.raises(UnknownLayer):
            runner(guided, progress=lambda _: None, cancel=threading.Event())
    else:
        runner(guided, progress=lambda _: None, cancel=threading.Event())
    assert released == [1]


async def test_waiting_and_running_count_the_queue(backend: LocalBackend, runner: Runner) -> None:
    """`running` is 1 while a dream is dreamed (`current` is its job), `waiting` the rest."""
    assert (backend.waiting, backend.running, backend.current) == (0, 0, None)
    held = await hold_worker(backend, runner)
    await backend.submit(request(2))
    assert (backend.waiting, backend.running, backend.current) == (1, 1, held)
    runner.gate.set()
    await held.result()
    await wait_for(lambda: backend.running == 0 and backend.waiting == 0)


@pytest.mark.parametrize("kind", [JobKind.ANIMATED, JobKind.ZOOM])
def test_engine_runner_hands_moving_jobs_to_run_moving(
    monkeypatch: pytest.MonkeyPatch, kind: JobKind
) -> None:
    """An animated or zoom job goes to bot.jobs.moving with the runner's dreamer."""
    import bot.jobs.local as local

    seen: list[tuple[object, JobRequest]] = []

    def moving(dreamer: object, job: JobRequest, **_: object) -> Encoded:
        seen.append((dreamer, job))
        return Encoded(data=b"gif", format="GIF", filename="dream.gif")

    monkeypatch.setattr(local, "run_moving", moving)
    monkeypatch.setattr(local, "release_freed_memory", lambda: None)
    dreamer = object()
    runner = local.EngineRunner(dreamer)  # type: ignore[arg-type]
    job = dataclasses.replace(request(1), kind=kind)
    assert runner(job, progress=lambda _: None, cancel=threading.Event()).data == b"gif"
    assert seen == [(dreamer, job)]


def test_run_moving_refuses_the_wrong_settings() -> None:
    """A zoom given animation settings (or a still dream) is a programming error, said so."""
    from bot.jobs.moving import run_moving
    from engine import AnimationParams

    zoom = dataclasses.replace(request(1), kind=JobKind.ZOOM, animation=AnimationParams())
    with pytest.raises(TypeError, match="ZoomParams"):
        run_moving(object(), zoom, progress=lambda _: None, cancel=threading.Event())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a moving job"):
        run_moving(object(), request(1), progress=lambda _: None, cancel=threading.Event())  # type: ignore[arg-type]
