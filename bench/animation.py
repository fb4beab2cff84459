"""How fast moving dreams run: seconds per zoom frame and per frame of a dreamed GIF.

    python bench/animation.py                      # auto device, 512 px, efficientnet_lite0
    python bench/animation.py --device cpu --size 256 --frames 3
    python bench/animation.py --coherence          # the flicker figures in docs/animation.md

bench/engine.py calls `animation_section` for its report; run alone, this prints the same table.
A zoom frame is one octave of ZoomParams().steps steps; a GIF frame is the classic dream (4
octaves x 10 steps) for the first frame and (1 - blend) of its steps for every later one.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ comes first on the path and bench/engine.py would shadow the engine
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from engine import (  # noqa: E402
    Animation,
    AnimationParams,
    Dreamer,
    DreamParams,
    ZoomParams,
    default_preset,
    dream_frames,
    encode_animation,
    estimate_animation,
    estimate_zoom,
    resolve_device,
    zoom,
)

PHOTO = ROOT / "tests" / "data" / "astronaut.png"

__all__ = ["animation_section", "coherence_section", "main"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, run: Callable[[], object]) -> float:
    _sync(device)
    started = time.perf_counter()
    run()
    _sync(device)
    return time.perf_counter() - started


def _panning(size: int, frames: int) -> Animation:
    """``frames`` frames of ``size`` px panning across the photo, 80 ms each."""
    with Image.open(PHOTO) as photo:
        big = photo.convert("RGB").resize((size + 4 * frames, size + 4 * frames))
    images = tuple(big.crop((4 * i, 4 * i, 4 * i + size, 4 * i + size)) for i in range(frames))
    return Animation(images, (80,) * frames, loop=0)


def animation_section(
    dreamer: Dreamer,
    model: str,
    *,
    size: int = 512,
    frames: int = 4,
    repeats: int = 1,
    layers: tuple[str, ...] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Markdown rows: seconds per zoom frame and per GIF frame at ``size`` px (medians of
    ``repeats`` after a warm-up), the engine's up-front estimate beside each, and encoding."""
    device = dreamer.device
    params = DreamParams(
        model=model, layers=layers or default_preset(model).layers, seed=1, max_side=size
    )
    picture = _panning(size, 1).frames[0]
    zoom_settings = ZoomParams(frames=frames)
    animated = _panning(size, frames)
    gif_settings = AnimationParams()

    log(f"animation {model} {size}px: warm-up")
    zoom(dreamer, picture, params, ZoomParams(frames=2, steps=1))
    dream_frames(dreamer, _panning(size, 2), params, AnimationParams(follow_steps=1))

    zoom_runs, gif_runs, first_runs = [], [], []
    result = animated
    for _ in range(repeats):
        log(f"animation {model} {size}px: zoom of {frames} frames")
        zoom_runs.append(_timed(device, lambda: zoom(dreamer, picture, params, zoom_settings)))
        log(f"animation {model} {size}px: dreaming {frames} GIF frames")
        first_runs.append(_timed(device, lambda: dreamer.dream(animated.frames[0], params)))
        started = time.perf_counter()
        result = dream_frames(dreamer, animated, params, gif_settings)
        _sync(device)
        gif_runs.append(time.perf_counter() - started)
    zoom_s = statistics.median(zoom_runs) / frames
    first_s = statistics.median(first_runs)
    later_s = max(0.0, (statistics.median(gif_runs) - first_s) / (frames - 1))
    encode_s = _timed(device, lambda: encode_animation(result, max_bytes=10 * 1024 * 1024))

    zoom_estimate = estimate_zoom((size, size), params, zoom_settings).seconds(device, model=model)
    gif_estimate = estimate_animation(frames, (size, size), params, gif_settings)
    follow = gif_settings.follow_params(params)
    return [
        f"Moving dreams: {model} {'+'.join(params.layers)}, {size} px, {frames} frames, "
        f"medians of {repeats} after a warm-up; estimate = the engine's up-front guess "
        "(engine/animation.py) that the bot refuses jobs with",
        "",
        "| what | steps | s per frame | estimate s per frame |",
        "|---|---|---|---|",
        f"| zoom frame | 1 octave x {zoom_settings.steps} | {zoom_s:.3f} "
        f"| {zoom_estimate / frames:.3f} |",
        f"| GIF frame, first | {params.octaves} octaves x {params.steps} | {first_s:.3f} | |",
        f"| GIF frame, each later (blend {gif_settings.blend:g}) | {params.octaves} octaves x "
        f"{follow.steps} | {later_s:.3f} | |",
        f"| GIF frame, mean over {frames} | | {statistics.median(gif_runs) / frames:.3f} "
        f"| {gif_estimate.seconds(device, model=model) / frames:.3f} |",
        f"| encoding {frames} frames to fit 10 MB | | {encode_s / frames:.3f} | |",
    ]


def _test_animations(frames: int) -> dict[str, Animation]:
    """A ball rolling over a still photo, and a camera panning over it, 192 x 128."""
    with Image.open(ROOT / "tests" / "data" / "chelsea.png") as photo:
        cat = photo.convert("RGB")
    still = cat.resize((192, 128))
    big = cat.resize((192 + 2 * frames, 128 + frames))
    rolling = []
    for i in range(frames):
        frame = still.copy()
        ImageDraw.Draw(frame).ellipse((20 + 8 * i, 40, 52 + 8 * i, 72), fill=(250, 200, 40))
        rolling.append(frame)
    panning = [big.crop((2 * i, i, 2 * i + 192, i + 128)) for i in range(frames)]
    return {
        "a ball rolling over a still photo": Animation(tuple(rolling), (80,) * frames),
        "the camera panning 2 px a frame": Animation(tuple(panning), (80,) * frames),
    }


def _arrays(animation: Animation) -> list[np.ndarray]:
    return [np.asarray(frame, dtype=np.float32) for frame in animation.frames]


def _change(animation: Animation) -> float:
    frames = _arrays(animation)
    return float(np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(frames)]))


def _flicker(dreamed: Animation, source: Animation) -> float:
    layers = [d - s for d, s in zip(_arrays(dreamed), _arrays(source), strict=True)]
    return float(np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(layers)]))


def coherence_section(dreamer: Dreamer, model: str, *, frames: int = 12) -> list[str]:
    """Markdown rows: how much consecutive frames change, dreamed one by one and blended."""
    params = DreamParams(model=model, seed=3, max_side=192)
    rows = [
        f"Coherence: {frames} frames of 192x128, {params.octaves} octaves x {params.steps} "
        f"steps, {model}; mean absolute change between consecutive frames (0-255), and flicker "
        "= the change of the dream alone (output - input)",
        "",
        "| animation | input change | each frame alone | blended 0.85 | less change "
        "| flicker alone -> blended |",
        "|---|---|---|---|---|---|",
    ]
    for name, source in _test_animations(frames).items():
        alone = dream_frames(dreamer, source, params, AnimationParams(blend=0))
        blended = dream_frames(dreamer, source, params, AnimationParams())
        flicker_alone, flicker_blended = _flicker(alone, source), _flicker(blended, source)
        rows.append(
            f"| {name} | {_change(source):.2f} | {_change(alone):.2f} | {_change(blended):.2f} "
            f"| {_change(alone) / _change(blended):.1f}x | {flicker_alone:.2f} -> "
            f"{flicker_blended:.2f} ({flicker_alone / flicker_blended:.1f}x) |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=512, metavar="PX")
    parser.add_argument("--frames", type=int, default=4, metavar="N")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--coherence", action="store_true", help="the flicker figures instead of the timings"
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    dreamer = Dreamer(device=resolve_device(args.device))
    if args.coherence:
        rows = coherence_section(dreamer, args.model)
    else:
        rows = animation_section(
            dreamer, args.model, size=args.size, frames=args.frames, repeats=args.repeats, log=log
        )
    print(f"# Moving dreams on {dreamer.device}\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
