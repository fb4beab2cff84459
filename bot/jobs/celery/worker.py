"""`deepdream-worker`: a Celery worker (solo pool, one job at a time, one per GPU) that loads its
models once and dreams the jobs it takes from Redis, holding a lease on each; ``--check`` shows
workers and queues."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
from pydantic import Field, ValidationError, model_validator

from bot.jobs.celery.app import TASK_NAME, make_celery, queue_for, safe_url
from bot.jobs.celery.store import (
    FINISH,
    JOB_TTL_S,
    LEASE_S,
    MAX_ATTEMPTS,
    POISON_MESSAGE,
    PROGRESS,
    RELEASE,
    RENEW,
    RESULT_TTL_S,
    START,
    Keys,
    decode_fields,
    encode_progress,
    request_from_fields,
    text,
)
from bot.jobs.codec import CodecError
from bot.settings import EngineSettings
from engine.errors import DreamCancelled, DreamError

if TYPE_CHECKING:
    from celery import Celery, Task

    from bot.jobs.local import Runner
    from engine import Progress

__all__ = ["Worker", "WorkerSettings", "check", "main"]

log = logging.getLogger(__name__)

# a worker's heartbeat key is refreshed this often and expires after three misses
HEARTBEAT_S = 5.0


class WorkerSettings(EngineSettings):
    """What a worker reads at start (no Discord token): each field an environment variable.

    DREAM_DEVICE is where this worker dreams (one worker per GPU); DREAM_MODELS the models it
    loads at start and serves (it consumes their queues only).
    """

    # the worker's name in Celery and in --check; default dream<pid>@<host>
    dream_worker_name: str | None = None
    # a dream running longer is stopped and its member told
    dream_job_timeout_s: float = Field(default=600, gt=0)
    # a running job's lease: renewed every quarter of it; a worker silent this long (dead, or
    # cut off from Redis) loses the job, which a bot process sends to another worker
    dream_lease_s: float = Field(default=LEASE_S, ge=0.4)
    # the fallback should a job's lease never be checked (no bot process running): a dead
    # worker's message goes back to the queue this long after it was delivered; it must exceed
    # the job timeout, or a long job would be handed to a second worker meanwhile
    dream_visibility_timeout_s: float = Field(default=900, gt=0)
    # how often an idle worker looks for such messages
    dream_restore_interval_s: float = Field(default=10, gt=0)
    # "module:function" that builds the runner from these settings (default: the engine)
    dream_worker_runner: str | None = None

    @model_validator(mode="after")
    def _visibility_above_jobs(self) -> WorkerSettings:
        if self.dream_visibility_timeout_s <= self.dream_job_timeout_s:
            raise ValueError(
                "DREAM_VISIBILITY_TIMEOUT_S must be larger than DREAM_JOB_TIMEOUT_S "
                f"({self.dream_visibility_timeout_s:g} <= {self.dream_job_timeout_s:g})"
            )
        return self


def engine_runner(settings: WorkerSettings) -> Runner:
    """The engine on the worker's device, its models loaded now."""
    from bot.jobs.local import EngineRunner

    return EngineRunner.from_settings(settings)


def _load_runner_factory(spec: str) -> Callable[[WorkerSettings], Runner]:
    module, _, name = spec.partition(":")
    factory = getattr(importlib.import_module(module), name or "make_runner")
    if not callable(factory):
        raise TypeError(f"DREAM_WORKER_RUNNER {spec!r} is not callable")
    return factory  # type: ignore[no-any-return]


class Worker:
    """Runs the jobs Celery hands this process, keeping their state in Redis."""

    def __init__(
        self, settings: WorkerSettings, runner: Runner, *, name: str, keys: Keys | None = None
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.name = name
        self.keys = keys or Keys()
        self.models: tuple[str, ...] = tuple(getattr(runner, "loaded", settings.dream_models))
        self.current: str | None = None
        self.redis = redis.Redis.from_url(settings.dream_redis_url)
        self._start = self.redis.register_script(START)
        self._finish = self.redis.register_script(FINISH)
        self.renew_lease = self.redis.register_script(RENEW)
        self.report_progress = self.redis.register_script(PROGRESS)
        self.release_run = self.redis.register_script(RELEASE)
        self._stop = threading.Event()
        self._started = time.time()

    # heartbeat: what --check and the bot show

    def beat(self) -> None:
        device = getattr(
            getattr(self.runner, "dreamer", None), "device", self.settings.dream_device
        )
        payload = {
            "name": self.name,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "device": str(device),
            "models": list(self.models),
            "job": self.current,
            "since": self._started,
        }
        self.redis.set(self.keys.worker(self.name), json.dumps(payload), ex=int(3 * HEARTBEAT_S))

    def start_heartbeat(self) -> None:
        def loop() -> None:
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    self.beat()
                except redis.RedisError as error:
                    log.warning("Could not refresh the heartbeat: %s", error)

        self.beat()
        threading.Thread(target=loop, name="dream-heartbeat", daemon=True).start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(self.keys.worker(self.name))

    # one job

    def run(self, task: Task, job_id: str) -> dict[str, Any]:
        lease_ms = max(1, round(self.settings.dream_lease_s * 1000))
        limits: list[str | int] = [MAX_ATTEMPTS, JOB_TTL_S, RESULT_TTL_S, POISON_MESSAGE, lease_ms]
        verdict = text(self._start(args=[self.keys.prefix, job_id, self.name, *limits]))
        if verdict != "run":
            log.info("Job %s not run: %s", job_id, verdict)
            return {"job": job_id, "outcome": verdict}
        self.current = job_id
        self.beat()
        try:
            return _Run(self, task, job_id).dream()
        finally:
            self.current = None
            self.beat()

    def finish(self, job_id: str, token: str, state: str, picture: bytes, *fields: str) -> bool:
        """Store the job's end; False when the job is no longer this run's (nothing stored)."""
        args: list[str | bytes | int] = [
            self.keys.prefix,
            job_id,
            RESULT_TTL_S,
            token,
            state,
            picture,
            *fields,
        ]
        return bool(self._finish(args=args))


class _Run:
    """One attempt at one job: its lease renewed in a thread, its progress and end fenced by its
    run token (worker#attempt), so a worker that lost the job reports nothing."""

    def __init__(self, worker: Worker, task: Task, job_id: str) -> None:
        self.worker = worker
        self.task = task
        self.job_id = job_id
        self.fields = decode_fields(worker.redis.hgetall(worker.keys.job(job_id)))
        self.attempt = int(self.fields.get("attempts", "1"))
        self.token = self.fields.get("run") or f"{worker.name}#{self.attempt}"
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self._done = threading.Event()

    def dream(self) -> dict[str, Any]:
        renewer = threading.Thread(target=self._renew, name="dream-lease", daemon=True)
        renewer.start()
        try:
            return self._dream()
        finally:
            self._done.set()
            renewer.join(5)

    def _renew(self) -> None:
        worker = self.worker
        lease_ms = max(1, round(worker.settings.dream_lease_s * 1000))
        args: list[str | int] = [worker.keys.prefix, self.job_id, self.token, lease_ms]
        while not self._done.wait(worker.settings.dream_lease_s / 4):
            try:
                held = worker.renew_lease(args=args)
            except redis.RedisError as error:  # the next beat tries again, while the lease lives
                log.warning("Could not renew the lease of job %s: %s", self.job_id, error)
                continue
            if not held:
                self._lose()
                return

    def _lose(self) -> None:
        if not self.lost.is_set():
            log.warning("Job %s went to another worker (this one was silent too long)", self.job_id)
            self.lost.set()
            self.cancel.set()

    def _dream(self) -> dict[str, Any]:
        worker, job_id = self.worker, self.job_id
        picture, guide = worker.redis.mget(
            [worker.keys.picture_in(job_id), worker.keys.guide(job_id)]
        )
        guided = bool(self.fields.get("guided"))
        if (
            not isinstance(picture, bytes)
            or "params" not in self.fields
            or (guided and not isinstance(guide, bytes))
        ):
            return self._fail("JobFailed", "Your picture expired before I could dream it.")
        try:
            request = request_from_fields(
                self.fields, picture, guide if isinstance(guide, bytes) and guided else None
            )
        except CodecError as error:  # a newer bot's job this worker cannot read
            return self._fail("CodecError", str(error))
        timeout = worker.settings.dream_job_timeout_s
        timed_out = threading.Event()
        started = time.perf_counter()

        def progress(update: Progress) -> None:
            args = [worker.keys.prefix, job_id, self.token, encode_progress(update)]
            verdict = worker.report_progress(args=args)
            if verdict == 2:
                self._lose()
            elif verdict:
                self.cancel.set()
            if time.perf_counter() - started > timeout:
                timed_out.set()
                self.cancel.set()

        log.info("Dreaming job %s (attempt %d) for user %s", job_id, self.attempt, request.user_id)
        try:
            encoded = worker.runner(request, progress=progress, cancel=self.cancel)
        except DreamCancelled:
            if self.lost.is_set():
                return {"job": job_id, "outcome": "lost"}
            if timed_out.is_set():
                return self._fail(
                    "BudgetExceeded",
                    f"This dream took longer than {timeout:g} s, so I stopped it. "
                    "Try fewer steps or octaves.",
                )
            return self._fail("JobCancelled", "")
        except DreamError as error:  # the picture or the settings: the same every time
            return self._fail(type(error).__name__, str(error))
        except Exception as error:
            if self.attempt < MAX_ATTEMPTS:
                log.warning(
                    "Job %s failed (attempt %d); retrying", job_id, self.attempt, exc_info=True
                )
                # the job goes back to waiting first, or its dropped lease would requeue it too
                if not worker.release_run(args=[worker.keys.prefix, job_id, self.token]):
                    return {"job": job_id, "outcome": "lost"}
                raise self.task.retry(countdown=1, max_retries=None, exc=error) from error
            log.error("Job %s failed %d times; giving up", job_id, self.attempt, exc_info=True)
            return self._fail("JobFailed", POISON_MESSAGE)
        seconds = time.perf_counter() - started
        stored = worker.finish(
            job_id,
            self.token,
            "done",
            encoded.data,
            "seconds",
            f"{seconds:.3f}",
            "format",
            encoded.format,
            "filename",
            encoded.filename,
        )
        if not stored:
            log.warning("Job %s was done here too late: another worker had it by then", job_id)
            return {"job": job_id, "outcome": "lost"}
        log.info("Job %s done in %.1f s", job_id, seconds)
        return {"job": job_id, "outcome": "done", "seconds": round(seconds, 3)}

    def _fail(self, kind: str, message: str) -> dict[str, Any]:
        if not self.worker.finish(
            self.job_id, self.token, "failed", b"", "error", kind, "message", message
        ):
            return {"job": self.job_id, "outcome": "lost"}
        log.info("Job %s failed: %s %s", self.job_id, kind, message)
        return {"job": self.job_id, "outcome": "failed", "error": kind}


def build_app(worker: Worker) -> Celery:
    """The Celery app with the dream task bound to ``worker``."""
    settings = worker.settings
    app = make_celery(
        settings.dream_redis_url,
        visibility_timeout=settings.dream_visibility_timeout_s,
        restore_every=settings.dream_restore_interval_s,
    )

    @app.task(name=TASK_NAME, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
    def dream(task: Task, job_id: str) -> dict[str, Any]:
        return worker.run(task, job_id)

    return app


def check(settings: WorkerSettings, *, keys: Keys | None = None) -> int:
    """Print the connected workers, their models and the queues; 0 if any worker is there."""
    keys = keys or Keys()
    client = redis.Redis.from_url(settings.dream_redis_url, socket_connect_timeout=3)
    url = safe_url(settings.dream_redis_url)
    try:
        names = list(client.scan_iter(match=keys.workers_pattern, count=100))
        workers = sorted(
            (json.loads(raw) for raw in (client.mget(names) if names else []) if raw),
            key=lambda worker: str(worker.get("name")),
        )
        waiting = client.zcard(keys.waiting)
        models = sorted(set(settings.dream_models).union(*(w.get("models", ()) for w in workers)))
        queues = {model: client.llen(queue_for(model)) for model in models}
        per_model = {model: client.zcard(keys.waiting_for(model)) for model in models}
    except redis.RedisError as error:
        print(f"Cannot reach Redis at {url}: {error}", file=sys.stderr)
        return 2
    finally:
        client.close()
    print(f"Redis {url}: {len(workers)} workers connected, {waiting} dreams waiting")
    for worker in workers:
        job = worker.get("job")
        print(
            f"  {worker.get('name')}  {worker.get('device')}  "
            f"models: {', '.join(worker.get('models', ())) or 'none'}  "
            f"{'busy with job ' + str(job) if job else 'idle'}"
        )
    for model in models:
        served = sum(1 for w in workers if model in w.get("models", ()))
        print(
            f"  queue {queue_for(model)}: {per_model[model]} waiting, "
            f"{queues[model]} messages, {served} workers"
        )
    return 0 if workers else 1


def _secrets(url: str) -> list[str]:
    password = urlsplit(url).password
    return [password] if password else []


def run(settings: WorkerSettings) -> int:
    """Load the models, then run the Celery worker until it is stopped (SIGTERM: warm)."""
    from celery.signals import worker_ready, worker_shutdown

    from bot.logs import setup_logging

    setup_logging(level=settings.log_level, secrets=_secrets(settings.dream_redis_url))
    make_runner = (
        _load_runner_factory(settings.dream_worker_runner)
        if settings.dream_worker_runner
        else engine_runner
    )
    runner = make_runner(settings)
    models = tuple(getattr(runner, "loaded", settings.dream_models))
    if not models:
        log.error("No model could be loaded; this worker has nothing to serve")
        return 1
    name = settings.dream_worker_name or f"dream{os.getpid()}@{socket.gethostname()}"
    worker = Worker(settings, runner, name=name)
    app = build_app(worker)
    # the heartbeat says "connected" only once Celery consumes
    worker_ready.connect(lambda **_: worker.start_heartbeat(), weak=False)
    worker_shutdown.connect(lambda **_: worker.stop_heartbeat(), weak=False)
    log.info(
        "Worker %s serves %s via %s",
        name,
        ", ".join(models),
        safe_url(worker.settings.dream_redis_url),
    )
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--concurrency=1",
            f"--queues={','.join(queue_for(model) for model in models)}",
            f"--hostname={name}",
            f"--loglevel={settings.log_level}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    worker.stop_heartbeat()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deepdream-worker",
        description="Run a dream worker (settings from the environment or .env), "
        "or check the connected workers and the queue.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="print the connected workers, the models each serves and the queue length",
    )
    args = parser.parse_args(argv)
    try:
        settings = WorkerSettings()
    except ValidationError as error:
        for problem in error.errors(include_url=False, include_input=False):
            message = str(problem["msg"]).removeprefix("Value error, ")
            if problem["loc"]:
                message = f"{str(problem['loc'][0]).upper()} is invalid: {message}"
            print(f"{message}.", file=sys.stderr)
        return 2
    if args.check:
        return check(settings)
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
