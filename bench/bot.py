"""Benchmark of the whole bot against the fake Discord: initial-response latency, event-loop lag,
throughput against the engine alone (the bot's overhead) and peak memory.

    python bench/bot.py --requests 24 --users 4 --side 128 --steps 2 --octaves 1
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import math
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and this "bot" would hide the bot
# package: import from the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (_HERE, ROOT)]

import psutil  # noqa: E402
from PIL import Image  # noqa: E402

from tests.bot.support.fake_discord import (  # noqa: E402
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    FakeDiscord,
    Recorded,
    SentInteraction,
    point_discord_py_at,
)

SEED = 1234
PROBE_INTERVAL_S = 0.25  # a /layers command this often while the dreams run
LAG_SLEEP_S = 0.010


@dataclass
class Monitor:
    """Samples the event loop's oversleep and the process's memory while it runs."""

    lags: list[float] = field(default_factory=list)
    peak_rss: int = 0
    recording: bool = False

    async def run(self) -> None:
        process = psutil.Process()
        loop = asyncio.get_running_loop()
        last_rss = 0.0
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_SLEEP_S)
            now = loop.time()
            if self.recording:
                self.lags.append(max(0.0, now - started - LAG_SLEEP_S))
            if now - last_rss >= 0.05:
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)
                last_rss = now


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank method; NaN without values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5) * 1000:7.1f} ms   p99 {percentile(values, 0.99) * 1000:7.1f}"
        f" ms   max {max(values, default=math.nan) * 1000:7.1f} ms   (n={len(values)})"
    )


def photo(side: int) -> bytes:
    """tests/data/chelsea.png scaled so that its longest side is ``side``, as PNG."""
    with Image.open(ROOT / "tests" / "data" / "chelsea.png") as image:
        image = image.convert("RGB")
        scale = side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        buffer = io.BytesIO()
        image.resize(size, Image.Resampling.LANCZOS).save(buffer, "PNG")
        return buffer.getvalue()


def engine_alone(args: argparse.Namespace, data: bytes, max_bytes: int) -> list[float]:
    """Seconds per dream of ``Dreamer.dream_bytes`` on the same picture and settings (warmed up),
    in one worker thread like the bot's."""
    from engine import Dreamer, DreamParams

    def run() -> list[float]:
        dreamer = Dreamer(device=args.device)
        params = DreamParams(steps=args.steps, octaves=args.octaves, max_side=args.side, seed=SEED)
        dreamer.dream_bytes(data, params, max_bytes=max_bytes)  # warm-up: first-call costs
        seconds = []
        for _ in range(args.requests):
            started = time.perf_counter()
            dreamer.dream_bytes(data, params, max_bytes=max_bytes)
            seconds.append(time.perf_counter() - started)
        return seconds

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-alone") as pool:
        return pool.submit(run).result()


@dataclass
class BotRun:
    """What the bot run measured."""

    elapsed: float  # first /dream dispatched -> last result received, seconds
    latency: list[float]  # INTERACTION_CREATE sent -> initial response received, per /dream
    probe_latency: list[float]  # the same for /layers sent while a dream ran
    failures: int
    lags: list[float]
    peak_rss: int


async def bot_run(args: argparse.Namespace, data: bytes, data_dir: Path) -> BotRun:
    from bot.__main__ import freeze_start_up
    from bot.bot import DreamBot
    from bot.settings import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        discord_token="bench-token",  # type: ignore[arg-type]
        dream_data_dir=data_dir,
        dream_device=args.device,
        dream_max_side=args.side,
        dream_cooldown_s=0,
        dream_queue_limit=args.requests + 1,
        dream_user_queue_limit=math.ceil(args.requests / args.users) + 1,
    )
    monitor = Monitor()
    monitor_task = asyncio.create_task(monitor.run())
    async with FakeDiscord() as fake:
        with point_discord_py_at(fake):
            bot = DreamBot(settings=settings)
            freeze_start_up()  # as `python -m bot` does
            # discord.py waits this long after the last GUILD_CREATE before on_ready
            bot._connection.guild_ready_timeout = 0.05
            async with fake.running(bot, token="bench-token"):
                print(f"bot ready: {await bot.jobs.describe()}", flush=True)
                users = [fake.add_member(f"user{i}") for i in range(args.users)]

                async def dream(user_index: int) -> SentInteraction:
                    attachment = fake.add_attachment(data, filename="chelsea.png")
                    options = {"steps": args.steps, "octaves": args.octaves, "seed": SEED}
                    return await fake.send_command(
                        "dream", options, user=users[user_index], attachments={"image": attachment}
                    )

                def result(sent: SentInteraction) -> Recorded | None:
                    """The request that delivered the dreamed picture, if it came."""
                    found = [r for r in fake.for_interaction(sent) if r.files and r.status < 300]
                    return found[0] if found else None

                def failed(sent: SentInteraction) -> bool:
                    """Refused (an ephemeral initial answer) or failed (a followup or deletion)."""
                    return any(
                        (r.route.endswith("/callback") and r.json.get("type") == 4)
                        or (r.method in ("POST", "DELETE") and r.route.startswith("/webhooks/"))
                        for r in fake.for_interaction(sent)
                    )

                warm = await dream(0)  # the bot's first dream pays first-call costs too
                await fake.wait_until(lambda: bool(result(warm)) or failed(warm), timeout=600)

                monitor.recording = True
                started = time.monotonic()
                sends = [await dream(i % args.users) for i in range(args.requests)]
                probes: list[SentInteraction] = []
                while not all(result(s) or failed(s) for s in sends):
                    if bot.jobs.running:
                        probes.append(await fake.send_command("layers", user=users[0]))
                    await asyncio.sleep(PROBE_INTERVAL_S)
                monitor.recording = False
                answers = [r.time for s in sends if (r := result(s)) is not None]
                for probe in probes:
                    await fake.wait_callback(probe)

                def latencies(sent: list[SentInteraction]) -> list[float]:
                    return [c.time - i.time for i in sent if (c := fake.callback(i)) is not None]

                run = BotRun(
                    elapsed=max(answers, default=started) - started,
                    latency=latencies(sends),
                    probe_latency=latencies(probes),
                    failures=sum(1 for s in sends if failed(s)),
                    lags=monitor.lags,
                    peak_rss=monitor.peak_rss,
                )
    monitor_task.cancel()
    return run


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=positive, default=12, help="concurrent /dream")
    parser.add_argument("--users", type=positive, default=4, help="members sending them")
    parser.add_argument("--side", type=positive, default=96, help="DREAM_MAX_SIDE, picture side")
    parser.add_argument("--steps", type=positive, default=2, help="steps per octave")
    parser.add_argument("--octaves", type=positive, default=1)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    data = photo(args.side)
    max_bytes = DEFAULT_ATTACHMENT_SIZE_LIMIT  # what the bot gets as interaction.filesize_limit
    print(
        f"bot benchmark: {args.requests} /dream from {args.users} users, side {args.side}, "
        f"{args.steps} steps x {args.octaves} octaves, device {args.device}, "
        f"torch threads {torch.get_num_threads()}, {psutil.cpu_count()} CPUs",
        flush=True,
    )
    # The engine alone runs before and after the bot (in a worker thread, as in the bot), so
    # that a neighbour's load on a shared machine shows up as a spread instead of a bias.
    before = engine_alone(args, data, max_bytes)
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        result = asyncio.run(bot_run(args, data, Path(tmp)))
    after = engine_alone(args, data, max_bytes)
    engine = before + after

    engine_total = sum(engine) / 2
    peak_kernel = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if not result.elapsed:
        print("the bot answered no dream; see the log above")
        return 1
    overhead = (result.elapsed / engine_total - 1) * 100

    print(f"initial response, /dream burst:        {ms(result.latency)}")
    print(f"initial response, /layers during jobs: {ms(result.probe_latency)}")
    print(f"event-loop lag during jobs ({LAG_SLEEP_S * 1000:.0f} ms sleeps):  {ms(result.lags)}")
    print(
        f"engine alone: {args.requests} dreams in {engine_total:6.2f} s = "
        f"{args.requests / engine_total * 60:7.1f} dreams/min "
        f"(mean of a run before ({sum(before):.2f} s) and after ({sum(after):.2f} s) the bot; "
        f"median {statistics.median(engine) * 1000:.0f} ms each)"
    )
    print(
        f"bot:          {args.requests} dreams in {result.elapsed:6.2f} s = "
        f"{args.requests / result.elapsed * 60:7.1f} dreams/min, overhead {overhead:+.1f}% "
        f"(first dispatch to last answer, fake Discord in the same process; "
        f"{result.failures} failed)"
    )
    print(
        f"peak memory: RSS {result.peak_rss / 2**20:.0f} MiB sampled by psutil, "
        f"{peak_kernel / 2**20:.0f} MiB max RSS (kernel)"
    )
    return 1 if result.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
