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

from tests.bot.fake_discord import FakeDiscord, Interaction, point_discord_py_at  # noqa: E402

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


async def bot_run(args: argparse.Namespace, data: bytes, data_dir: Path) -> dict[str, object]:
    from bot.bot import DreamBot
    from bot.settings import Settings

    per_user = math.ceil(args.requests / args.users) + 1
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        discord_token="bench-token",  # type: ignore[arg-type]
        dream_data_dir=data_dir,
        dream_device=args.device,
        dream_max_side=args.side,
        dream_cooldown_s=0,
        dream_queue_limit=args.requests + 1,
        dream_user_queue_limit=per_user,
    )
    monitor = Monitor()
    monitor_task = asyncio.create_task(monitor.run())
    async with FakeDiscord() as fake:
        with point_discord_py_at(fake):
            bot = DreamBot(settings=settings)
            # discord.py waits this long after the last GUILD_CREATE before on_ready
            bot._connection.guild_ready_timeout = 0.05
            async with fake.running(bot, token="bench-token"):
                print(f"bot ready: {await bot.jobs.describe()}", flush=True)
                users = [fake.add_member(f"user{i}") for i in range(args.users)]

                async def dream(user_index: int) -> Interaction:
                    attachment = fake.add_attachment(data, filename="chelsea.png")
                    options = {"steps": args.steps, "octaves": args.octaves, "seed": SEED}
                    return await fake.send_command(
                        "dream", options, user=users[user_index], attachments={"image": attachment}
                    )

                def answered(sent: Interaction) -> bool:
                    hook = f"/webhooks/{fake.application_id}/{sent.token}/messages/@original"
                    return bool(
                        fake.find(lambda r: r.route == hook and r.method == "PATCH" and r.files)
                    )

                def failed(sent: Interaction) -> bool:
                    return any("⚠️" in (r.content or "") for r in fake.for_interaction(sent))

                warm = await dream(0)  # the bot's first dream pays first-call costs too
                await fake.wait_until(lambda: answered(warm) or failed(warm), timeout=600)

                monitor.recording = True
                started = time.monotonic()
                sends = [await dream(i % args.users) for i in range(args.requests)]
                probes: list[Interaction] = []

                def finished() -> bool:
                    return all(answered(s) or failed(s) for s in sends)

                while not finished():
                    if bot.jobs.running is not None:
                        probes.append(await fake.send_command("layers", user=users[0]))
                    await asyncio.sleep(PROBE_INTERVAL_S)
                elapsed = (
                    max(
                        r.time
                        for s in sends
                        for r in fake.for_interaction(s)
                        if r.method == "PATCH" and r.files
                    )
                    - started
                    if all(answered(s) for s in sends)
                    else time.monotonic() - started
                )
                monitor.recording = False

                for probe in probes:
                    await fake.wait_callback(probe)
                latency = [
                    call.time - s.time for s in sends if (call := fake.callback(s)) is not None
                ]
                probe_latency = [
                    call.time - p.time for p in probes if (call := fake.callback(p)) is not None
                ]
                failures = sum(1 for s in sends if failed(s))
    monitor_task.cancel()
    return {
        "elapsed": elapsed,
        "latency": latency,
        "probe_latency": probe_latency,
        "failures": failures,
        "lags": monitor.lags,
        "peak_rss": monitor.peak_rss,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12, help="concurrent /dream requests")
    parser.add_argument("--users", type=int, default=4, help="members sending them")
    parser.add_argument("--side", type=int, default=96, help="DREAM_MAX_SIDE and picture side")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--octaves", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    data = photo(args.side)
    max_bytes = FakeDiscord().attachment_size_limit
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
    bot_total = float(result["elapsed"])  # type: ignore[arg-type]
    latency = result["latency"]
    probes = result["probe_latency"]
    lags = result["lags"]
    assert isinstance(latency, list) and isinstance(probes, list) and isinstance(lags, list)
    peak_psutil = int(result["peak_rss"])  # type: ignore[call-overload]
    peak_kernel = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    overhead = (bot_total / engine_total - 1) * 100

    print(f"initial response, /dream burst:        {ms(latency)}")
    print(f"initial response, /layers during jobs: {ms(probes)}")
    print(f"event-loop lag during jobs ({LAG_SLEEP_S * 1000:.0f} ms sleeps):  {ms(lags)}")
    print(
        f"engine alone: {args.requests} dreams in {engine_total:6.2f} s = "
        f"{args.requests / engine_total * 60:7.1f} dreams/min "
        f"(mean of a run before ({sum(before):.2f} s) and after ({sum(after):.2f} s) the bot; "
        f"median {statistics.median(engine) * 1000:.0f} ms each)"
    )
    print(
        f"bot:          {args.requests} dreams in {bot_total:6.2f} s = "
        f"{args.requests / bot_total * 60:7.1f} dreams/min, overhead {overhead:+.1f}% "
        f"(first dispatch to last answer; {result['failures']} failed)"
    )
    print(
        f"peak memory: RSS {peak_psutil / 2**20:.0f} MiB sampled by psutil, "
        f"{peak_kernel / 2**20:.0f} MiB max RSS (kernel)"
    )
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
