"""Helpers for the Celery tests: real `deepdream-worker` processes on the CPU whose runner is
the engine, slowed down, failing or killing its worker on purpose for some seeds (fixtures:
celery_fixtures.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from bot.jobs.celery.store import Keys

__all__ = [
    "JOB_TIMEOUT_S",
    "KILLER_SEED",
    "LEASE_S",
    "POISON_SEED",
    "SLOW_SEED",
    "STEP_S",
    "Workers",
    "free_port",
    "make_runner",
    "redis_db",
    "wait_for_ping",
]

ROOT = Path(__file__).resolve().parents[2]
REDIS_ENV = "DREAM_TEST_REDIS_URL"
# a job with this seed sleeps STEP_S after each step (long enough to kill or cancel mid-job)
SLOW_SEED = 4242
STEP_S = 0.25
# a job with this seed raises an unexpected error every time
POISON_SEED = 6666
# a job with this seed SIGKILLs its worker at its first step, every time
KILLER_SEED = 6667
# generous: a loaded CI machine must never stop a test's dream (the visibility timeout, the
# fallback after a worker's death, stays the default and must exceed it)
JOB_TIMEOUT_S = 300.0
# short, so a dead worker's job is requeued in seconds; long enough that a worker starved of CPU
# still renews it (every LEASE_S / 4)
LEASE_S = 4.0
WORKERS_DB = 1
EMPTY_DB = 2


def make_runner(settings: Any) -> Any:
    """The worker's runner in these tests: the real engine, slowed or poisoned by the seed."""
    from bot.jobs.celery.worker import engine_runner

    engine = engine_runner(settings)

    def run(request: Any, *, progress: Callable[[Any], None], cancel: Any) -> Any:
        seed = request.params.seed
        if seed == POISON_SEED:
            raise RuntimeError("a poison job: fails every time")
        if seed == KILLER_SEED:
            inner_kill = progress

            def progress(update: Any) -> None:
                inner_kill(update)
                os.kill(os.getpid(), signal.SIGKILL)

        if seed == SLOW_SEED:
            inner = progress

            def progress(update: Any) -> None:
                time.sleep(STEP_S)
                inner(update)

        return engine(request, progress=progress, cancel=cancel)

    run.loaded = engine.loaded  # type: ignore[attr-defined]
    run.dreamer = engine.dreamer  # type: ignore[attr-defined]
    return run


def redis_db(url: str, db: int) -> str:
    """``url`` pointing at database ``db``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_ping(url: str, timeout: float) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return True
            except redis.RedisError:
                time.sleep(0.1)
        return False
    finally:
        client.close()


class Workers:
    """`deepdream-worker` processes (python -m bot.jobs.celery.worker) on one Redis database."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._count = 0
        self.redis = redis.Redis.from_url(url)
        self.keys = Keys()

    def spawn(self) -> str:
        self._count += 1
        name = f"w{self._count}@test"
        env = os.environ | {
            "DREAM_REDIS_URL": self.url,
            "DREAM_DEVICE": "cpu",
            "DREAM_MODELS": "efficientnet_lite0",
            "DREAM_WORKER_NAME": name,
            "DREAM_JOB_TIMEOUT_S": str(JOB_TIMEOUT_S),
            "DREAM_LEASE_S": str(LEASE_S),
            "DREAM_WORKER_RUNNER": "tests.bot.celery_support:make_runner",
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "LOG_LEVEL": "INFO",
        }
        with (self.folder / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "bot.jobs.celery.worker"],
                cwd=self.folder,  # no stray .env
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return name

    def alive(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is None]

    def wait_ready(self, names: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.redis.exists(self.keys.worker(name)) for name in names):
                return
            dead = [name for name in names if self.procs[name].poll() is not None]
            if dead:
                pytest.fail(f"worker {dead} exited:\n{self.log(dead[0])}")
            time.sleep(0.2)
        pytest.fail(f"workers {names} not ready in {timeout} s:\n{self.log(names[0])}")

    def ensure(self, count: int) -> list[str]:
        """At least ``count`` live, ready workers; their names."""
        fresh = [self.spawn() for _ in range(count - len(self.alive()))]
        if fresh:
            self.wait_ready(fresh)
        return self.alive()

    def kill(self, name: str) -> None:
        """SIGKILL: no warm shutdown, the job's message stays unacknowledged in Redis."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        self.redis.delete(self.keys.worker(name))  # its heartbeat would linger 15 s

    def pause(self, name: str) -> None:
        """SIGSTOP: the worker is alive but silent, as if cut off from Redis."""
        self.procs[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGCONT)

    def wait_log(self, name: str, text: str, timeout: float = 120) -> None:
        """Wait until the worker's log says ``text``."""
        deadline = time.monotonic() + timeout
        while text not in self.log(name, tail=None):
            if time.monotonic() > deadline:
                pytest.fail(f"worker {name} never logged {text!r}:\n{self.log(name)}")
            time.sleep(0.1)

    def log(self, name: str, tail: int | None = 4000) -> str:
        path = self.folder / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text if tail is None else text[-tail:]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a paused worker would not hear SIGTERM
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.redis.close()
