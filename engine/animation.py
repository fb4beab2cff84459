"""Moving dreams: the infinite zoom, dreaming every frame of an animation with temporal coherence,
their settings, their progress and their cost estimated before any work."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.errors import DreamCancelled, ParamsError
from engine.frames import ANIMATION_FORMATS, Animation, decode_animation, encode_animation
from engine.models import DEFAULT_MODEL
from engine.params import DreamParams, Progress, check_range, recipe_terms
from engine.pictures import DEFAULT_MAX_PIXELS, Encoded, decode
from engine.transforms import from_pil, octave_sizes, to_pil

if TYPE_CHECKING:
    from collections.abc import Sequence

    from engine.dream import Dreamer

__all__ = [
    "AnimationParams",
    "Cost",
    "FrameProgress",
    "ZoomParams",
    "dream_animation_bytes",
    "dream_frames",
    "estimate_animation",
    "estimate_dream",
    "estimate_zoom",
    "objective_cost",
    "zoom",
    "zoom_bytes",
]

ProgressCallback = Callable[[Progress], None]

# Rough seconds per gradient step per megapixel of efficientnet_lite0, and a fixed cost per step,
# by device type. CPU: a shared 2-core machine measured 0.4-0.7 s per megapixel-step when calm
# (bench/animation.py), taken at about twice that; the GPU figures are guesses to be replaced
# by bench/animation.py's on the bot's card. Only for refusing jobs that would take far too long.
SECONDS_PER_MEGAPIXEL_STEP = {"cpu": 1.2, "cuda": 0.03, "mps": 0.3}
SECONDS_PER_STEP = {"cpu": 0.02, "cuda": 0.008, "mps": 0.015}
# how much slower than efficientnet_lite0 each model dreams, about
MODEL_COST = {"efficientnet_lite0": 1.0, "googlenet": 1.5, "inception_v3": 2.5, "vgg16": 8.0}
# What each addition to one layer's objective adds to a step, as a share of the step: measured on
# efficientnet_lite0 at 512 px on the CPU (`bench/engine.py --objectives`: a 2-layer mix 1.08x,
# a class 1.35x since it runs the whole network, a guide 1.04x, smooth 1.17x).
EXTRA_LAYER_COST = 0.08
CLASS_COST = 0.35
GUIDE_COST = 0.04
SMOOTH_COST = 0.17


@dataclass(frozen=True, kw_only=True, slots=True)
class ZoomParams:
    """An infinite zoom: each frame is the last one zoomed (and turned), then dreamed a little."""

    # frames in the animation; the first is the picture itself, dreamed
    frames: int = 48
    # how much larger the picture gets each frame: 0.05 is 5 %; below 0 zooms out
    zoom: float = 0.05
    # degrees the picture turns each frame, anticlockwise
    rotate: float = 0.0
    # dream steps on each frame, at one octave (the zoom itself builds the large shapes)
    steps: int = 5
    # frames per second of the result
    fps: float = 12.0

    def __post_init__(self) -> None:
        check_range("frames", self.frames, 2, 1000)
        check_range("zoom", self.zoom, -0.3, 0.5)
        check_range("rotation", self.rotate, -45, 45)
        check_range("steps per frame", self.steps, 1, 50)
        check_range("frames per second", self.fps, 1, 60)
        if self.zoom == 0 and self.rotate == 0:
            raise ParamsError("Give a zoom or a rotation, or nothing would move.")

    @property
    def frame_ms(self) -> int:
        return round(1000 / self.fps)


@dataclass(frozen=True, kw_only=True, slots=True)
class AnimationParams:
    """How every frame of an animation is dreamed, and how many frames may be."""

    # how much of the previous frame's dream each frame starts with: where the picture stands
    # still a frame starts from blend x dreamed previous + (1 - blend) x itself; 0 dreams each
    # frame on its own (and flickers)
    blend: float = 0.85
    # dream steps per octave for every frame after the first, which starts half dreamed already;
    # None: the dream's steps x (1 - blend), at least 1, so the dream stays as strong as the first
    follow_steps: int | None = None
    # the budget, checked from the file's header before any frame is decoded: frames, and
    # frames x pixels per frame once scaled to the dream's max_side
    max_frames: int = 120
    max_pixels: int = 120 * 512 * 512
    # over budget: dream every n-th frame (True) or refuse (False)
    sample: bool = False
    # longest side of the frames, when smaller than the dream's max_side (every frame is a dream)
    max_side: int | None = None

    def __post_init__(self) -> None:
        check_range("blend", self.blend, 0.0, 0.99)
        if self.follow_steps is not None:
            check_range("steps after the first frame", self.follow_steps, 1, 200)
        check_range("frame limit", self.max_frames, 1, 5000)
        if self.max_pixels < 1:
            raise ParamsError("The pixel budget must be at least 1.")
        if self.max_side is not None:
            check_range("max side", self.max_side, 32, 8192)

    def side(self, params: DreamParams) -> int:
        """The longest side of the frames for ``params``."""
        return min(params.max_side, self.max_side or params.max_side)

    def steps_after_first(self, params: DreamParams) -> int:
        if self.follow_steps is not None:
            return self.follow_steps
        return max(1, math.ceil(params.steps * (1 - self.blend) - 1e-9))

    def follow_params(self, params: DreamParams) -> DreamParams:
        """The dream of every frame after the first."""
        steps = self.steps_after_first(params)
        if self.follow_steps is not None or self.blend == 0:
            return dataclasses.replace(params, steps=steps)
        # Each frame keeps blend of the dream it starts with, so it needs (1 - blend) of a fresh
        # dream to stay as strong as the first: fewer steps, and a step length that makes up
        # for the rounding up of the steps.
        push = params.steps * params.strength * (1 - self.blend)
        return dataclasses.replace(params, steps=steps, strength=max(0.05, push / steps))


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameProgress(Progress):
    """Progress through an animation: the frame being dreamed (1-based), where its dream is, and
    the gradient steps done of all frames together."""

    frame: int
    frames: int
    steps_done: int
    steps_total: int

    @property
    def frames_done(self) -> int:
        return self.frame - 1 + (self.octave == self.octaves and self.step == self.steps)

    @property
    def done(self) -> int:
        return self.steps_done

    @property
    def total(self) -> int:
        return self.steps_total

    @property
    def fraction(self) -> float:
        return self.steps_done / self.steps_total


def objective_cost(params: DreamParams, *, guided: bool = False) -> float:
    """How many times one layer's step a step of this objective costs: each further layer of a
    mix, a class, a guide picture and smooth add their share."""
    terms = len(recipe_terms(params.layers)) or 1
    return (
        1.0
        + EXTRA_LAYER_COST * (terms - 1)
        + CLASS_COST * (params.dream_of is not None)
        + GUIDE_COST * guided
        + SMOOTH_COST * params.smooth
    )


@dataclass(frozen=True, slots=True)
class Cost:
    """What a dream will cost, known before it starts."""

    frames: int
    steps: int  # gradient steps in all
    megapixel_steps: float  # each step's picture size in megapixels, added up
    objective: float = 1.0  # `objective_cost`: a step's cost against one layer's

    def seconds(self, device: str | torch.device = "cpu", *, model: str = DEFAULT_MODEL) -> float:
        """A rough estimate of the time on ``device`` (its type: cpu, cuda, mps)."""
        kind = torch.device(device).type
        rate = SECONDS_PER_MEGAPIXEL_STEP.get(kind, SECONDS_PER_MEGAPIXEL_STEP["cpu"])
        fixed = SECONDS_PER_STEP.get(kind, SECONDS_PER_STEP["cpu"])
        factor = MODEL_COST.get(model, 1.0) * self.objective
        return factor * (self.megapixel_steps * rate + self.steps * fixed)


def estimate_dream(size: tuple[int, int], params: DreamParams, *, guided: bool = False) -> Cost:
    """The cost of a still dream of a picture of ``size`` (width, height, before scaling)."""
    width, height = _fit(size, params.max_side)
    sizes = octave_sizes(height, width, octaves=params.octaves, scale=params.octave_scale)
    megapixels = sum(h * w for h, w in sizes) / 1e6
    objective = objective_cost(params, guided=guided)
    return Cost(1, len(sizes) * params.steps, megapixels * params.steps, objective)


def estimate_zoom(
    size: tuple[int, int], params: DreamParams, settings: ZoomParams, *, guided: bool = False
) -> Cost:
    """The cost of a zoom of frames of ``size`` (width, height, after scaling to max_side)."""
    width, height = _fit(size, params.max_side)
    steps = settings.frames * settings.steps
    objective = objective_cost(params, guided=guided)
    return Cost(settings.frames, steps, steps * width * height / 1e6, objective)


def estimate_animation(
    frames: int,
    size: tuple[int, int],
    params: DreamParams,
    settings: AnimationParams,
    *,
    guided: bool = False,
) -> Cost:
    """The cost of dreaming ``frames`` frames of ``size`` (width, height, before scaling)."""
    width, height = _fit(size, settings.side(params))
    sizes = octave_sizes(height, width, octaves=params.octaves, scale=params.octave_scale)
    megapixels = sum(h * w for h, w in sizes) / 1e6
    follow = settings.steps_after_first(params)
    steps = len(sizes) * (params.steps + (frames - 1) * follow)
    mp_steps = megapixels * (params.steps + (frames - 1) * follow)
    return Cost(frames, steps, mp_steps, objective_cost(params, guided=guided))


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    width, height = size
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    return max(1, round(width * max_side / longest)), max(1, round(height * max_side / longest))


# --- the zoom -----------------------------------------------------------------------------------


def zoom(
    dreamer: Dreamer,
    image: Image.Image,
    params: DreamParams,
    settings: ZoomParams | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Animation:
    """An infinite zoom from an RGB picture: ``settings.frames`` frames of its size.

    Frame 1 is the picture dreamed; each next one is the last zoomed (and turned) about its
    centre, then dreamed ``settings.steps`` steps at one octave with ``params``' model and layers.
    """
    settings = settings or ZoomParams()
    seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**32)
    per_frame = dataclasses.replace(params, octaves=1, steps=settings.steps, seed=seed)
    total = settings.frames * settings.steps
    frames: list[Image.Image] = []
    picture = image.convert("RGB")
    for index in range(settings.frames):
        _check(cancel)
        if index:
            picture = _zoomed(picture, settings.zoom, settings.rotate, dreamer.device)
        frame_params = dataclasses.replace(per_frame, seed=(seed + index) % 2**32)
        picture = dreamer.dream(
            picture,
            frame_params,
            progress=_frame_progress(
                progress, index, settings.frames, index * settings.steps, total
            ),
            cancel=cancel,
        )
        frames.append(picture)
    return Animation(tuple(frames), (settings.frame_ms,) * len(frames), loop=0)


def _zoomed(image: Image.Image, zoom: float, rotate: float, device: torch.device) -> Image.Image:
    """``image`` scaled by 1 + ``zoom`` and turned ``rotate`` degrees about its centre, same size;
    what comes into view at the edges is mirrored in."""
    picture = from_pil(image, device)
    height, width = picture.shape[-2:]
    scale = 1 + zoom
    turn = math.radians(rotate)
    cos, sin = math.cos(turn) / scale, math.sin(turn) / scale
    # affine_grid works in [-1, 1] on both axes: the aspect ratio keeps the turn a true rotation
    theta = torch.tensor(
        [[cos, -sin * height / width, 0.0], [sin * width / height, cos, 0.0]],
        dtype=picture.dtype,
        device=picture.device,
    )[None]
    grid = F.affine_grid(theta, list(picture.shape), align_corners=False)
    warped = F.grid_sample(
        picture, grid, mode="bicubic", padding_mode="reflection", align_corners=False
    )
    return to_pil(warped)


# --- dreaming an animation ----------------------------------------------------------------------


def dream_frames(
    dreamer: Dreamer,
    animation: Animation,
    params: DreamParams,
    settings: AnimationParams | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Animation:
    """Every frame dreamed, each starting from the new frame plus ``settings.blend`` of the dream
    the previous frame received, so the dream flows with the picture instead of flickering.

    Where the picture stands still that start is exactly blend x dreamed previous + (1 - blend) x
    new frame; where it moves, the new frame shows through instead of a ghost of the old one.
    Durations, loop and note are kept; every frame uses the same seed (the same jitter), which
    also keeps them alike.
    """
    settings = settings or AnimationParams()
    seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**32)
    first = dataclasses.replace(params, seed=seed)
    follow = settings.follow_params(first)
    count = len(animation.frames)
    octaves = len(
        octave_sizes(
            animation.size[1],
            animation.size[0],
            octaves=params.octaves,
            scale=params.octave_scale,
            min_side=dreamer.model(params.model).min_side,
        )
    )
    total = octaves * (first.steps + (count - 1) * follow.steps)
    frames: list[Image.Image] = []
    carried: np.ndarray | None = None  # the previous frame's dream: dreamed - its input
    done = 0
    for index, source in enumerate(animation.frames):
        _check(cancel)
        frame_params = first if index == 0 else follow
        original = np.asarray(source, dtype=np.float32)
        start = source
        if carried is not None and settings.blend > 0:
            start = _to_image(original + settings.blend * carried)
        dreamed = dreamer.dream(
            start,
            frame_params,
            progress=_frame_progress(progress, index, count, done, total),
            cancel=cancel,
        )
        done += octaves * frame_params.steps
        frames.append(dreamed)
        carried = np.asarray(dreamed, dtype=np.float32) - original
    return dataclasses.replace(animation, frames=tuple(frames))


def _to_image(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


def _frame_progress(
    progress: ProgressCallback | None, index: int, frames: int, before: int, total: int
) -> ProgressCallback | None:
    if progress is None:
        return None

    def report(p: Progress) -> None:
        progress(
            FrameProgress(
                p.octave,
                p.octaves,
                p.step,
                p.steps,
                frame=index + 1,
                frames=frames,
                steps_done=min(total, before + p.done),
                steps_total=total,
            )
        )

    return report


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise DreamCancelled("The dream was cancelled.")


# --- bytes in, bytes out (the bot's worker thread) ----------------------------------------------


def zoom_bytes(
    dreamer: Dreamer,
    data: bytes,
    params: DreamParams,
    settings: ZoomParams | None = None,
    *,
    max_bytes: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Sequence[str] = ANIMATION_FORMATS,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Encoded:
    """Decode a picture (the first frame of an animation), zoom into it, encode the animation to
    fit ``max_bytes``."""
    picture = decode(data, max_pixels=max_pixels, max_side=params.max_side)
    frames = zoom(dreamer, picture.rgb, params, settings, progress=progress, cancel=cancel)
    return encode_animation(frames, max_bytes=max_bytes, formats=formats, stem="zoom")


def dream_animation_bytes(
    dreamer: Dreamer,
    data: bytes,
    params: DreamParams,
    settings: AnimationParams | None = None,
    *,
    max_bytes: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Sequence[str] = ANIMATION_FORMATS,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Encoded:
    """Decode every frame of an animation (within ``settings``' budget), dream them, encode the
    result to fit ``max_bytes``, frame durations and loop kept."""
    settings = settings or AnimationParams()
    animation = decode_animation(
        data,
        max_side=settings.side(params),
        max_frames=settings.max_frames,
        max_pixels=settings.max_pixels,
        sample=settings.sample,
        max_frame_pixels=max_pixels,
    )
    dreamed = dream_frames(dreamer, animation, params, settings, progress=progress, cancel=cancel)
    return encode_animation(dreamed, max_bytes=max_bytes, formats=formats)
