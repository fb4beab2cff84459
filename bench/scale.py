"""Benchmark of the Celery backend with real `deepdream-worker` processes on the CPU: throughput
with 1, 2 and 3 workers (dreams/min), the queue's latency overhead per job against the local
backend, and, with the default lease and heartbeat, the time from SIGKILLing a job's worker to
the job running again elsewhere and to its answer.

    python bench/scale.py --workers 1,2,3 --jobs 12 --side 64 --steps 2 --octaves 1
    python bench/scale.py --workers 2 --kills 5 --no-throughput     # recovery only

Redis: --redis-url, else $DREAM_TEST_REDIS_URL, else a private redis-server on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and would hide the bot package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (_HERE, ROOT)]

import redis  # noqa: E402
from PIL import Image  # noqa: E402

from bot.jobs import Job, JobRequest, JobState, LocalBackend  # noqa: E402
from bot.jobs.celery import CeleryBackend  # noqa: E402
from bot.jobs.celery.store import Keys  # noqa: E402
from engine import DreamParams  # noqa: E402

MODEL = "efficientnet_lite0"
KEYS = Keys()


def photo(side: int) -> bytes:
    with Image.open(ROOT / "tests" / "data" / "chelsea.png") as image:
        image = image.convert("RGB")
        image.thumbnail((side, side))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


class Fleet:
    """Worker processes on one Redis database."""

    def __init__(self, url: str, folder: Path, args: argparse.Namespace) -> None:
        self.url, self.folder, self.args = url, folder, args
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.redis = redis.Redis.from_url(url)

    def start(self, count: int) -> float:
        """Start ``count`` more workers; seconds until all are ready."""
        started = time.perf_counter()
        names = []
        for _ in range(count):
            name = f"bench{len(self.procs) + 1}@scale"
            env = os.environ | {
                "DREAM_REDIS_URL": self.url,
                "DREAM_DEVICE": "cpu",
                "DREAM_MODELS": MODEL,
                "DREAM_WORKER_NAME": name,
                "OMP_NUM_THREADS": str(self.args.threads),
                "PYTHONPATH": str(ROOT),
                "LOG_LEVEL": "WARNING",
            }
            if self.args.lease is not None:
                env["DREAM_LEASE_S"] = str(self.args.lease)
            with (self.folder / f"{name}.log").open("ab") as log:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "bot.jobs.celery.worker"],
                    cwd=self.folder,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            names.append(name)
        while not all(self.redis.exists(KEYS.worker(name)) for name in names):
            if any(self.procs[name].poll() is not None for name in names):
                raise RuntimeError(f"a worker exited; see {self.folder}")
            time.sleep(0.1)
        return time.perf_counter() - started

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)
        self.redis.delete(KEYS.worker(name))

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()


def request(user: int, picture: bytes, args: argparse.Namespace, *, steps: int | None = None):
    params = DreamParams(
        model=MODEL,
        steps=steps or args.steps,
        octaves=args.octaves,
        max_side=args.side,
        seed=user,
    )
    return JobRequest(user_id=user, picture=picture, params=params)


async def throughput(backend: CeleryBackend, picture: bytes, args: argparse.Namespace) -> float:
    """Dreams per minute for ``args.jobs`` jobs submitted at once."""
    started = time.perf_counter()
    jobs = [await backend.submit(request(1000 + n, picture, args)) for n in range(args.jobs)]
    await asyncio.gather(*(job.result() for job in jobs))
    return args.jobs / (time.perf_counter() - started) * 60


async def overheads(backend, picture: bytes, args: argparse.Namespace) -> list[float]:
    """Per job, one at a time: seconds from submit to result, less the engine's own time."""
    found = []
    for n in range(args.latency_jobs):
        started = time.perf_counter()
        job = await backend.submit(request(2000 + n, picture, args))
        result = await job.result()
        found.append(time.perf_counter() - started - result.seconds)
    return found


async def running(job: Job) -> None:
    async for status in job.watch():
        if status.state is JobState.RUNNING and status.progress is not None:
            return


async def recovery(
    backend: CeleryBackend, fleet: Fleet, picture: bytes, args: argparse.Namespace, user: int
) -> tuple[float, float, float, str]:
    """SIGKILL the worker of a job the moment it runs: seconds until another worker starts it
    again, until its answer arrives, the engine's seconds for that answer, and its attempts."""
    job = await backend.submit(request(user, picture, args, steps=args.kill_steps))
    async for status in job.watch():
        if status.state is JobState.RUNNING:
            break
    victim = fleet.redis.hget(KEYS.job(job.id), "worker").decode()
    killed = time.perf_counter()
    fleet.kill(victim)
    restarted = None
    while not job.done():
        worker = fleet.redis.hget(KEYS.job(job.id), "worker")
        state = fleet.redis.hget(KEYS.job(job.id), "state")
        if restarted is None and state == b"running" and worker not in (None, b"", victim.encode()):
            restarted = time.perf_counter() - killed
        await asyncio.sleep(0.05)
    result = await job.result()
    answered = time.perf_counter() - killed
    attempts = (fleet.redis.hget(KEYS.job(job.id), "attempts") or b"?").decode()
    return restarted or float("nan"), answered, result.seconds, attempts


async def local_overheads(picture: bytes, args: argparse.Namespace) -> list[float]:
    import torch

    from bot.jobs import EngineRunner
    from engine import Dreamer

    torch.set_num_threads(args.threads)  # as the workers' OMP_NUM_THREADS
    backend = LocalBackend(
        make_runner=lambda: EngineRunner(Dreamer(device="cpu"), preload=[MODEL]),
        queue_limit=1000,
        user_limit=1000,
    )
    await backend.start()
    await backend.describe()  # the model is loaded
    try:
        await overheads(backend, picture, args)  # warm-up
        return await overheads(backend, picture, args)
    finally:
        await backend.close(timeout=10)


def _ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f})"


async def main(args: argparse.Namespace) -> None:
    picture = photo(args.side)
    folder = Path(tempfile.mkdtemp(prefix="scale-"))
    url = _with_db(args.redis_url, 3)
    print(
        f"settings: {args.side} px, {args.steps} steps x {args.octaves} octave(s), {MODEL}, "
        f"{args.jobs} jobs, {args.threads} torch thread(s) per worker, {os.cpu_count()} CPUs"
    )
    lease = "the default" if args.lease is None else f"{args.lease:g} s"
    print(f"recovery: lease {lease}, the bot's default heartbeat (checks leases each beat)")
    for count in args.workers:
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()
        fleet = Fleet(url, folder, args)
        backend = CeleryBackend(redis_url=url, queue_limit=1000, user_limit=1000)
        try:
            ready = fleet.start(count)
            await backend.start()
            # warm-up: each worker's first dream is slower
            await asyncio.gather(
                *[
                    (await backend.submit(request(900 + n, picture, args))).result()
                    for n in range(count)
                ]
            )
            if args.throughput:
                rate = await throughput(backend, picture, args)
                print(f"{count} worker(s): {rate:6.1f} dreams/min (workers ready in {ready:.1f} s)")
            if count == 1 and args.throughput:
                celery = await overheads(backend, picture, args)
                local = await local_overheads(picture, args)
                print(
                    f"queue latency overhead per job: celery {_ms(celery)}; "
                    f"local {_ms(local)}; difference "
                    f"{(statistics.median(celery) - statistics.median(local)) * 1000:.0f} ms"
                )
            if count >= 2:
                for kill in range(args.kills):
                    if kill:  # the killed worker is replaced, so each kill finds `count` workers
                        fleet.start(1)
                    restarted, done, engine_s, attempts = await recovery(
                        backend, fleet, picture, args, user=3000 + kill
                    )
                    print(
                        f"SIGKILL {kill + 1}: running again on another worker after "
                        f"{restarted:.1f} s, answered after {done:.1f} s "
                        f"(of which the second dream {engine_s:.1f} s; attempts {attempts})"
                    )
        finally:
            await backend.close(timeout=0)
            fleet.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _private_redis() -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("needs Redis: --redis-url, $DREAM_TEST_REDIS_URL, or apt-get install redis-server")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    client.close()
    return url, server


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("DREAM_TEST_REDIS_URL"))
    parser.add_argument("--workers", default="1,2,3", help="worker counts to measure")
    parser.add_argument("--jobs", type=int, default=12, help="jobs per throughput run")
    parser.add_argument("--latency-jobs", type=int, default=8)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--octaves", type=int, default=1)
    parser.add_argument("--kill-steps", type=int, default=60, help="steps of the killed job")
    parser.add_argument("--kills", type=int, default=1, help="recoveries to time (2+ workers)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--lease", type=float, default=None, help="DREAM_LEASE_S (default: its)")
    parser.add_argument(
        "--no-throughput", dest="throughput", action="store_false", help="time recovery only"
    )
    args = parser.parse_args()
    args.workers = [int(n) for n in args.workers.split(",")]
    return args


if __name__ == "__main__":
    arguments = parse()
    private = None
    if not arguments.redis_url:
        arguments.redis_url, private = _private_redis()
    try:
        asyncio.run(main(arguments))
    finally:
        if private is not None:
            private.terminate()
            private.wait(10)
