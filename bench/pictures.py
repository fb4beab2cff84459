"""What the checked decode costs: seconds and peak memory of `decode` / `decode_animation` against
the same functions before the decoding budget (``--before``, a commit: default 6e98aec, the last
one without it) and against plain Pillow (``Image.open(...).convert("RGB")``, every frame for
animations), in one run, on normal photos and animations; then the checked decode of every
hostile file of tests/engine/hostile.py (plain Pillow would take minutes and GiBs on some).

    python bench/pictures.py                 # photos from tests/data and /work/shared/images
    python bench/pictures.py --repeat 9 --images DIR --before COMMIT

Times are medians of ``--repeat`` runs in this process; peak memory is measured in a fresh
process per file and way (Linux: the kernel's high-water mark above the level before the call).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageSequence

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path("/work/shared/images")


def _plain(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def _plain_frames(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as im:
        return [frame.convert("RGB") for frame in ImageSequence.Iterator(im)]


def _checked(data: bytes) -> object:
    from engine.pictures import decode

    return decode(data)


def _checked_frames(data: bytes) -> object:
    from engine.frames import decode_animation

    return decode_animation(data, max_frames=5000, max_pixels=10**10)


def _before(data: bytes) -> object:
    from engine_before.pictures import decode

    return decode(data)


def _before_frames(data: bytes) -> object:
    from engine_before.frames import decode_animation

    return decode_animation(data, max_frames=5000, max_pixels=10**10)


WAYS: dict[str, Callable[[bytes], object]] = {
    "plain": _plain,
    "before": _before,
    "checked": _checked,
    "plain_frames": _plain_frames,
    "before_frames": _before_frames,
    "checked_frames": _checked_frames,
}


def _install_before(folder: Path, commit: str) -> None:
    """engine's pictures and frames as at ``commit`` (before the budget), as ``engine_before``."""
    package = folder / "engine_before"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    for module in ("errors", "pictures", "frames"):
        source = subprocess.run(
            ["git", "show", f"{commit}:engine/{module}.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (package / f"{module}.py").write_text(source.replace("from engine.", "from engine_before."))
    sys.path.insert(0, str(folder))


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def normal_pictures(images: Path | None) -> dict[str, bytes]:
    """The photos at hand, large versions of one of them, and a few animations."""
    pictures: dict[str, bytes] = {}
    folders = [ROOT / "tests" / "data", *([images] if images else [])]
    for folder in folders:
        for path in sorted(folder.glob("*")):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".gif"):
                pictures[path.name] = path.read_bytes()
    with Image.open(ROOT / "tests" / "data" / "astronaut.png") as photo:
        rgb = photo.convert("RGB")
    big = rgb.resize((4000, 3000), Image.Resampling.BICUBIC)
    pictures["astronaut-12mp.jpg"] = _save(big, "JPEG", quality=90)
    pictures["astronaut-12mp.png"] = _save(big, "PNG", compress_level=1)
    pictures["astronaut-36mp.jpg"] = _save(rgb.resize((7000, 5200)), "JPEG", quality=90)
    frames = [rgb.resize((480, 480)).rotate(3 * i) for i in range(60)]
    for fmt in ("GIF", "WEBP", "PNG"):
        name = f"animation-60x480.{fmt.lower()}"
        pictures[name] = _save(frames[0], fmt, save_all=True, append_images=frames[1:])
    return pictures


def _median_seconds(
    calls: list[Callable[[bytes], object]], data: bytes, repeat: int
) -> list[float]:
    """Each call's median seconds, the calls taken in turn within each round so that a machine
    getting busier or calmer weighs on all of them alike."""
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for call, spent in zip(calls, times, strict=True):
            started = time.perf_counter()
            with contextlib.suppress(Exception):  # hostile files: the refusal is what is timed
                call(data)
            spent.append(time.perf_counter() - started)
    return [statistics.median(spent) for spent in times]


def _child(path: Path, way: str) -> None:
    """Print the peak bytes above the start of one way of decoding ``path``, and its outcome."""
    # engine's modules without engine/__init__, which imports torch: a baseline of 20 MB, not 400
    package = types.ModuleType("engine")
    package.__path__ = [str(ROOT / "engine")]
    sys.modules["engine"] = package
    import engine.frames  # noqa: F401  (imported before the baseline is taken)

    sys.path.insert(0, os.environ["BENCH_BEFORE"])
    import engine_before.frames  # noqa: F401

    data = path.read_bytes()
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    try:
        WAYS[way](data)
        outcome = "ok"
    except Exception as error:
        outcome = type(error).__name__
    print(json.dumps({"peak": _status("VmHWM") - before, "outcome": outcome}))


def _status(key: str) -> int:
    found = re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text())
    assert found is not None
    return int(found.group(1)) * 1024


def _peak(path: Path, way: str) -> tuple[int, str]:
    """Peak bytes above the start and the outcome, in a fresh process."""
    if not Path("/proc/self/clear_refs").exists():
        return 0, "?"
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(path), way],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "BENCH_BEFORE": str(path.parent)},
    )
    if done.returncode:
        return 0, "crashed: " + done.stderr.strip().splitlines()[-1]
    report = json.loads(done.stdout)
    return int(report["peak"]), str(report["outcome"])


def _row(name: str, size: int, figures: list[str]) -> None:
    print(f"{name:30} {size:>10,} " + " ".join(f"{f:>10}" for f in figures))


def _bench(
    title: str, files: dict[str, bytes], repeat: int, folder: Path, *, plain: bool = True
) -> list[tuple[float, float]]:
    """Print a table for ``files``; the ratios checked / before and checked / plain of each."""
    print(f"\n{title}")
    ways = ("plain", "before", "checked") if plain else ("checked",)
    heads = [f"{way} s" for way in ways] + [f"{way} MiB" for way in ways]
    _row("file", 0, [*heads, "ckd/before", "ckd/plain", "outcome"])
    ratios = []
    for name, data in files.items():
        suffix = "_frames" if name.startswith("animation") else ""
        path = folder / name
        path.write_bytes(data)
        seconds = _median_seconds([WAYS[way + suffix] for way in ways], data, repeat)
        peaks = [_peak(path, way + suffix) for way in ways]
        figures = [f"{s:.4f}" for s in seconds] + [f"{p / 2**20:.1f}" for p, _ in peaks]
        if plain:
            ratio = (seconds[2] / seconds[1], seconds[2] / seconds[0])
            ratios.append(ratio)
            figures += [f"{ratio[0]:.3f}", f"{ratio[1]:.3f}"]
        else:
            figures += ["", ""]
        _row(name[:34], len(data), [*figures, peaks[-1][1]])
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--images", type=Path, default=SHARED if SHARED.is_dir() else None)
    parser.add_argument("--no-hostile", action="store_true")
    # 6e98aec: the last commit before the decoding budget (b8e5738 brought it)
    parser.add_argument("--before", default="6e98aec", help="commit of the unchecked decode")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), args.child[1])
        return
    sys.path.insert(0, str(ROOT))
    from tests.engine import hostile

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _install_before(folder, args.before)
        ratios = _bench("normal pictures", normal_pictures(args.images), args.repeat, folder)
        for index, against in enumerate(("before (no budget)", "plain Pillow")):
            values = [r[index] for r in ratios]
            print(
                f"checked / {against}: median {statistics.median(values):.3f} "
                f"(min {min(values):.3f}, max {max(values):.3f})"
            )
        if not args.no_hostile:
            # only the checked decode: plain Pillow takes minutes and GiBs on some of them
            title = "hostile files (tests/engine/hostile.py), checked decode only"
            _bench(title, hostile.build(), 1, folder, plain=False)
    print(f"\nload average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
