"""How fast the engine dreams, against the naive loop and the fastest peer's, in one run.

    python bench/engine.py                   # CPU or GPU (auto), 512 and 1024 px, both models
    python bench/engine.py --sweep           # ... and time and memory from 256 to 2048 px
    python bench/engine.py --device cuda     # the same on a GPU
    python bench/engine.py --quick           # a small smoke run (128 px, one repeat)
    python bench/engine.py --objectives      # only: a mix, a class, a guide and smooth vs one layer
    python bench/engine.py --smooth-sheet docs/smooth.jpg   # only: every preset without/with smooth

Prints Markdown tables (and writes them to --out). Every loop runs the classic dream (4 octaves
x 1.4, 10 steps, jitter 32) on the same picture with the same jitter seed; times are medians of
--repeats after a warm-up, the loops taking turns; the objective is measured the same way for all
(bench/baselines.py).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parents[1]
# Run as `python bench/engine.py`, Python puts bench/ first on the path, where this very file
# would shadow the engine package: look in the checkout's root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.animation import animation_section  # noqa: E402
from bench.baselines import (  # noqa: E402
    Classic,
    LoopResult,
    ReferenceNet,
    googlenet_state_dict,
    naive_dream,
    peer_dream,
)
from engine import (  # noqa: E402
    Dreamer,
    DreamParams,
    default_preset,
    keep_freed_memory,
    presets,
    release_freed_memory,
    resolve_device,
    use_cpu_threads,
)
from engine.params import BASE_STEP  # noqa: E402

PHOTO = ROOT / "tests" / "data" / "astronaut.png"
# googlenet's classic layer; other models dream their default preset
LAYERS = {"googlenet": ("inception4c",)}
# the models whose benchmark weights are untrained (fine for timing, seeded so that every loop
# shares them); the rest use their real weights, which the quality comparison needs
RANDOM_WEIGHTS = ("googlenet",)
SWEEP_SIZES = (256, 512, 768, 1024, 1536, 2048)
MB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    """One loop's figures for one model and size."""

    loop: str
    seconds: float
    steps: int
    # the warm-up: the first dream at this size, with every one-off cost (kernels, caches)
    first_seconds: float
    objective: float
    peak_bytes: int | None


# --- measuring ----------------------------------------------------------------------------------


class PeakMemory:
    """Peak memory above the level at the start: allocated CUDA memory on a GPU, resident set
    size on a CPU (Linux resets its high-water mark through /proc/self/clear_refs)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak: int | None = None

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            # what malloc keeps after a free would be reused unseen: hand it back first, so that
            # the peak counts every byte the run needs
            release_freed_memory()
            self._resettable = _reset_rss_peak()
            self._start = psutil.Process().memory_info().rss
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._start
        elif self._resettable:
            self.peak = _rss_peak() - self._start


def _reset_rss_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _rss_peak() -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match[1]) * 1024 if match else 0


@contextlib.contextmanager
def _as_written() -> Iterator[None]:
    # The reference loops run with PyTorch's defaults, whatever the engine turned on.
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = saved


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the loops ------------------------------------------------------------------------------------


@dataclass
class Bench:
    """Everything one model needs, loaded once: the engine, the reference network, the layers."""

    model: str
    device: torch.device
    dreamer: Dreamer
    reference: ReferenceNet
    layers: tuple[str, ...]

    def params(self, size: int, settings: Classic) -> DreamParams:
        return DreamParams(
            model=self.model,
            layers=self.layers,
            octaves=settings.octaves,
            octave_scale=settings.octave_scale,
            steps=settings.steps,
            jitter=settings.jitter,
            strength=settings.step_size / BASE_STEP,
            seed=settings.seed,
            max_side=max(size, 32),
        )

    def engine(self, picture: Image.Image, settings: Classic) -> LoopResult:
        params = self.params(max(picture.size), settings)
        _sync(self.device)
        started = time.perf_counter()
        result = self.dreamer.dream(picture, params)
        _sync(self.device)
        seconds = time.perf_counter() - started
        return LoopResult(result, None, seconds, settings.total_steps)

    def naive(self, picture: Image.Image, settings: Classic) -> LoopResult:
        with _as_written():
            return naive_dream(picture, self.reference, self.layers, settings, evaluate=False)

    def peer(self, picture: Image.Image, settings: Classic) -> LoopResult:
        with _as_written():
            return peer_dream(picture, self.reference, self.layers, settings, evaluate=False)

    def loops(self) -> dict[str, Callable[[Image.Image, Classic], LoopResult]]:
        loops = {"engine": self.engine, "naive": self.naive}
        if self.model == "googlenet":  # the peer's wrapper is a GoogLeNet
            loops["peer"] = self.peer
        return loops


def load_bench(model: str, device: torch.device, weights_dir: Path) -> Bench:
    weights: dict[str, str | Path] = {}
    if model in RANDOM_WEIGHTS:
        path = weights_dir / f"{model}-random.pt"
        state = googlenet_state_dict(seed=0)
        torch.save(state, path)
        weights[model] = path  # the engine loads the very weights the reference loops use
        reference = ReferenceNet.googlenet(state, device=device)
    else:
        reference = ReferenceNet.engine_network(model, device=device)
    dreamer = Dreamer(device=device, weights=weights)
    layers = LAYERS.get(model, default_preset(model).layers)
    return Bench(model, device, dreamer, reference, layers)


def photo(size: int) -> Image.Image:
    with Image.open(PHOTO) as image:
        return image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)


# --- the sections ---------------------------------------------------------------------------------


def compare(
    bench: Bench, size: int, settings: Classic, *, repeats: int, log: Callable[[str], None]
) -> list[Run]:
    """Engine, naive and peer on one model and size, each warmed up by one whole dream.

    The timed runs take turns (engine, naive, peer, engine, ...), so that a machine that slows
    down or speeds up during the run weighs on every loop alike; each loop's time is its median,
    its peak memory that of its first timed run. The objective is measured after the memory
    window: its full-size forward is not the loop's.
    """
    picture = photo(size)
    loops = bench.loops()
    firsts: dict[str, float] = {}
    for name, loop in loops.items():
        log(f"{bench.model} {size}px {name}: warm-up")
        firsts[name] = loop(picture, settings).seconds
    results: dict[str, list[LoopResult]] = {name: [] for name in loops}
    peaks: dict[str, int | None] = {}
    for turn in range(1, repeats + 1):
        log(f"{bench.model} {size}px: timed turn {turn} of {repeats}")
        for name, loop in loops.items():
            if turn > 1:
                results[name].append(loop(picture, settings))
                continue
            # only the first turn: the memory window hands freed memory back to the system
            with PeakMemory(bench.device) as memory:
                results[name].append(loop(picture, settings))
            peaks[name] = memory.peak
    return [
        Run(
            name,
            statistics.median(result.seconds for result in runs),
            runs[0].steps,
            firsts[name],
            bench.reference.objective(runs[0].picture, bench.layers),
            peaks[name],
        )
        for name, runs in results.items()
    ]


def comparison_table(rows: list[tuple[Bench, int, float, list[Run]]]) -> list[str]:
    lines = [
        "| model | layer | size | loop | s per dream | ms per step | engine faster by "
        "| objective (x input) | objective vs naive | peak memory | first dream s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for bench, size, start, runs in rows:
        by_loop = {run.loop: run for run in runs}
        engine, naive = by_loop["engine"], by_loop["naive"]
        for run in runs:
            faster = "" if run is engine else f"{run.seconds / engine.seconds:.2f}x"
            lines.append(
                f"| {bench.model} | {'+'.join(bench.layers)} | {size} | {run.loop} "
                f"| {run.seconds:.3f} | {1000 * run.seconds / run.steps:.1f} | {faster} "
                f"| {run.objective:.4g} ({run.objective / start:.2f}x) "
                f"| {run.objective / naive.objective:.3f} | {_mb(run.peak_bytes)} "
                f"| {run.first_seconds:.2f} |"
            )
    return lines


def sweep(
    bench: Bench, sizes: tuple[int, ...], settings: Classic, *, log: Callable[[str], None]
) -> list[str]:
    """The engine alone from small to large pictures: time per megapixel and peak memory.

    Each size runs in a fresh process, so that no allocator cache left by another size hides
    or inflates its memory.
    """
    lines = [
        f"Size sweep: engine, {bench.model} {'+'.join(bench.layers)}, tile "
        f"{bench.params(512, settings).tile_size} px; each size in a fresh process: a warm-up, "
        "then one timed dream. Peak memory: the process's peak resident set above its size "
        "once the model is loaded (on a GPU: CUDA memory allocated).",
        "",
        "| size | megapixels | s per dream | s per megapixel | peak memory "
        "| memory per added megapixel | first dream s |",
        "|---|---|---|---|---|---|---|",
    ]
    previous: tuple[float, int] | None = None
    for size in sizes:
        log(f"sweep {size}px")
        point = _sweep_point_in_subprocess(bench, size)
        seconds, peak, first = point["seconds"], point["peak_bytes"], point["first_seconds"]
        megapixels = size * size / 1e6
        # the slope of peak memory against pixels: what each further megapixel costs
        added = ""
        if previous is not None and peak is not None:
            added = _mb(int((peak - previous[1]) / (megapixels - previous[0])))
        lines.append(
            f"| {size} | {megapixels:.2f} | {seconds:.3f} | {seconds / megapixels:.3f} "
            f"| {_mb(peak)} | {added} | {first:.2f} |"
        )
        if peak is not None:
            previous = (megapixels, peak)
    return lines


def _sweep_point_in_subprocess(bench: Bench, size: int) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--sweep-point",
        str(size),
        "--models",
        bench.model,
        "--device",
        str(bench.device),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"the {size} px sweep point failed:\n{result.stderr[-4000:]}")
    point: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return point


def sweep_point(bench: Bench, size: int, settings: Classic) -> dict[str, Any]:
    """One size of the sweep, in this (fresh) process: a warm-up, then one timed dream."""
    picture = photo(size)
    with PeakMemory(bench.device) as memory:
        first = bench.engine(picture, settings).seconds
        seconds = bench.engine(picture, settings).seconds
    peak = memory.peak
    return {"seconds": seconds, "first_seconds": first, "peak_bytes": peak}


def _mb(peak: int | None) -> str:
    return "n/a" if peak is None else f"{peak / MB:.0f} MB"


def machine(device: torch.device, dreamer: Dreamer | None) -> str:
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    else:
        where = f"{_cpu_name()}, {torch.get_num_threads()} threads"
    dtype = "fp32" if dreamer is None or dreamer.dtype is None else str(dreamer.dtype)
    dtype = dtype.removeprefix("torch.")
    return (
        f"device {device}: {where}; torch {torch.__version__}, Python "
        f"{platform.python_version()}; engine autocast {dtype}"
    )


def load_line(before: float) -> str:
    after = os.getloadavg()[0]
    cores = psutil.cpu_count(logical=False) or 1
    note = (
        " (busier than its cores: CPU times are unreliable)" if max(before, after) > cores else ""
    )
    return f"1-minute load average: {before:.1f} before, {after:.1f} after, {cores} cores{note}"


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "CPU"


# --- other objectives, and the smooth look -------------------------------------------------------

OBJECTIVES_SIDE = 512
GUIDE_PHOTO = ROOT / "tests" / "data" / "coffee.png"


def objectives_section(
    dreamer: Dreamer, model: str, *, size: int, repeats: int, log: Callable[[str], None]
) -> list[str]:
    """What a two-layer mix, a class, a guide picture and smooth cost against one layer: the
    classic dream of each, a warm-up then medians of ``repeats``, the dreams taking turns."""
    # the default preset, mixed with the next deeper one
    table = presets(model)
    single = default_preset(model)
    deeper = table[min(table.index(single) + 1, len(table) - 1)]
    base = DreamParams(model=model, layers=(single.name,), seed=0, max_side=size, smooth=False)
    guide = Image.open(GUIDE_PHOTO).convert("RGB")
    variants: dict[str, tuple[DreamParams, Image.Image | None]] = {
        f"one layer ({single.name})": (base, None),
        f"2-layer mix ({single.name}+{deeper.name})": (
            dataclasses.replace(base, layers=(f"{single.name}+{deeper.name}",)),
            None,
        ),
        "class (dream_of goldfish)": (dataclasses.replace(base, dream_of="goldfish"), None),
        "guide picture": (base, guide),
        "smooth": (dataclasses.replace(base, smooth=True), None),
    }
    picture = photo(size)

    def run(params: DreamParams, guide_picture: Image.Image | None) -> tuple[float, float]:
        # wall time, and the CPU time of every thread of this process: on a CPU shared with
        # other work the second is far steadier, since waiting for a core costs none of it
        _sync(dreamer.device)
        started, cpu = time.perf_counter(), time.process_time()
        dreamer.dream(picture, params, guide=guide_picture)
        _sync(dreamer.device)
        return time.perf_counter() - started, time.process_time() - cpu

    firsts = {}
    for name, (params, guide_picture) in variants.items():
        log(f"objectives {model} {size}px {name}: warm-up")
        firsts[name] = run(params, guide_picture)[0]
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for turn in range(1, repeats + 1):
        log(f"objectives {model} {size}px: timed turn {turn} of {repeats}")
        for name, (params, guide_picture) in variants.items():
            times[name].append(run(params, guide_picture))
    wall = {name: statistics.median(t for t, _ in runs) for name, runs in times.items()}
    cpu = {name: statistics.median(c for _, c in runs) for name, runs in times.items()}
    first = next(iter(variants))
    # each turn's time against the one layer's in the same turn: a machine that slows down for
    # a while slows both, so these ratios hold where the medians of a busy machine do not
    paired = {
        name: statistics.median(
            t / base_t for (t, _), (base_t, _) in zip(runs, times[first], strict=True)
        )
        for name, runs in times.items()
    }
    lines = [
        f"Objectives: {model}, {size} px, the classic dream ({base.octaves} octaves x "
        f"{base.octave_scale}, {base.steps} steps), medians of {repeats} after a warm-up, the "
        "dreams taking turns; x one layer = median / the one layer's median; turn by turn = the "
        "median over turns of the time / the one layer's in that turn; CPU s = CPU time "
        "of the process's threads (steadier than wall time on a busy machine; on a GPU it "
        "counts only the host's part).",
        "",
        "| objective | s per dream | x one layer | x one layer, turn by turn | CPU s per dream "
        "| x one layer (CPU) | runs (s) | first dream s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in variants:
        runs = ", ".join(f"{t:.2f}" for t, _ in times[name])
        lines.append(
            f"| {name} | {wall[name]:.3f} | {wall[name] / wall[first]:.2f}x "
            f"| {paired[name]:.2f}x | {cpu[name]:.2f} "
            f"| {cpu[name] / cpu[first]:.2f}x | {runs} | {firsts[name]:.2f} |"
        )
    return lines


SHEET_CELL = 256
SHEET_PHOTOS = ("astronaut", "chelsea", "coffee")


def smooth_sheet(dreamer: Dreamer, model: str, path: Path, *, log: Callable[[str], None]) -> None:
    """Every preset of ``model`` on every sample photo, without and with smooth, side by side
    and labelled: the default dream (4 octaves x 10 steps) of a square crop, seed 1."""
    font = ImageFont.load_default(size=15)
    label_w, label_h, gap = 90, 24, 2
    table = presets(model)
    columns = [(name, smooth) for name in SHEET_PHOTOS for smooth in (False, True)]
    width = label_w + len(columns) * (SHEET_CELL + gap)
    height = label_h + len(table) * (SHEET_CELL + gap)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for column, (name, smooth) in enumerate(columns):
        x = label_w + column * (SHEET_CELL + gap)
        draw.text((x + 4, 4), f"{name}, {'smooth' if smooth else 'plain'}", fill="black", font=font)
        with Image.open(ROOT / "tests" / "data" / f"{name}.png") as image:
            square = ImageOps.fit(image.convert("RGB"), (SHEET_CELL, SHEET_CELL))
        for row, preset in enumerate(table):
            log(f"sheet: {preset.name} on {name}, smooth {smooth}")
            params = DreamParams(
                model=model, layers=(preset.name,), seed=1, max_side=SHEET_CELL, smooth=smooth
            )
            y = label_h + row * (SHEET_CELL + gap)
            sheet.paste(dreamer.dream(square, params), (x, y))
            if column == 0:
                draw.text((4, y + 4), preset.name, fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=82, optimize=True)


# --- the command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], metavar="PX")
    parser.add_argument(
        "--models", nargs="+", default=["googlenet", "efficientnet_lite0"], metavar="MODEL"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is shown")
    parser.add_argument("--sweep", action="store_true", help="also the size sweep (engine only)")
    parser.add_argument(
        "--sweep-sizes", type=int, nargs="+", default=list(SWEEP_SIZES), metavar="PX"
    )
    parser.add_argument(
        "--quick", action="store_true", help="128 px, one repeat (sweep 128, 256): a smoke test"
    )
    # internal: one size of the sweep, run by --sweep in a fresh process; prints one JSON line
    parser.add_argument("--sweep-point", type=int, metavar="PX", help=argparse.SUPPRESS)
    parser.add_argument(
        "--objectives",
        action="store_true",
        help=f"only: the cost of a 2-layer mix, a class, a guide and smooth against one layer, "
        f"at {OBJECTIVES_SIDE} px (--quick: 128 px), on the first of --models",
    )
    parser.add_argument(
        "--smooth-sheet",
        type=Path,
        metavar="PATH",
        help="only: write every preset of the first of --models on the sample photos, without "
        "and with smooth, side by side (docs/smooth.jpg)",
    )
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.sweep_sizes = [128], 1, [128, 256]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    use_cpu_threads()
    keep_freed_memory()  # as the bot and the command line do; for every loop alike
    settings = Classic()

    def log(message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    if args.sweep_point is not None:
        with tempfile.TemporaryDirectory() as tmp:
            bench = load_bench(args.models[0], device, Path(tmp))
            print(json.dumps(sweep_point(bench, args.sweep_point, settings)))
        return 0

    if args.smooth_sheet is not None:
        smooth_sheet(Dreamer(device=device), args.models[0], args.smooth_sheet, log=log)
        return 0

    load_before = os.getloadavg()[0]
    report: list[str] = []
    if args.objectives:
        dreamer = Dreamer(device=device)
        report += [
            f"# Objectives benchmark ({machine(device, dreamer)})",
            "",
            *objectives_section(
                dreamer,
                args.models[0],
                size=128 if args.quick else OBJECTIVES_SIDE,
                repeats=args.repeats,
                log=log,
            ),
            "",
            load_line(load_before),
        ]
        _write(report, args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        benches = [load_bench(model, device, Path(tmp)) for model in args.models]
        report += [
            f"# Engine benchmark ({machine(device, benches[0].dreamer if benches else None)})",
            "",
            f"Classic dream: {settings.octaves} octaves x {settings.octave_scale}, "
            f"{settings.steps} steps each, jitter {settings.jitter}; medians of {args.repeats} "
            "after a warm-up. engine faster by = loop time / engine time. objective = mean "
            "squared fp32 activation at the layer on the final picture (x input = gain over the "
            "undreamed picture). googlenet: seeded random weights shared by every loop; "
            "efficientnet_lite0: its real weights. Peak memory: "
            + ("CUDA memory allocated" if device.type == "cuda" else "resident set size")
            + " above the level before the run.",
            "",
        ]
        rows = []
        for bench in benches:
            for size in args.sizes:
                start = bench.reference.objective(photo(size), bench.layers)
                runs = compare(bench, size, settings, repeats=args.repeats, log=log)
                rows.append((bench, size, start, runs))
        report += comparison_table(rows)
        if args.sweep and benches:
            report += ["", *sweep(benches[0], tuple(args.sweep_sizes), settings, log=log)]
        report += ["", load_line(load_before)]
        # Moving dreams (issue 6): seconds per zoom frame and per GIF frame at 512 px, timed like
        # the dreams above (warm-up, then medians of --repeats); see bench/animation.py
        for bench in benches:
            report += [
                "",
                *animation_section(
                    bench.dreamer,
                    bench.model,
                    size=128 if args.quick else 512,
                    frames=2 if args.quick else 4,
                    repeats=args.repeats,
                    layers=bench.layers,
                    log=log,
                ),
            ]

    _write(report, args.out)
    return 0


def _write(report: list[str], out: Path | None) -> None:
    text = "\n".join(report) + "\n"
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
