"""What to make of a downloaded picture (a still dream, every frame of an animation, or a zoom),
within the animation budgets and time limit, and a zoom's last frame (where it goes on)."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from bot.jobs import JobKind
from engine import (
    AnimationParams,
    BudgetExceeded,
    Cost,
    DreamParams,
    ZoomParams,
    encode,
    estimate_animation,
    estimate_dream,
    estimate_zoom,
    plan_frames,
    probe_animation,
    resolve_device,
)

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "FIRST_FRAME_ONLY",
    "NO_ZOOMS",
    "JobPlan",
    "animation_params",
    "check_time",
    "last_frame",
    "plan_picture",
    "plan_zoom",
]

FIRST_FRAME_ONLY = "animations are off here, so I dreamed the first frame only"
NO_ZOOMS = "Animations are turned off here, so I can't zoom."


@dataclass(frozen=True, slots=True)
class JobPlan:
    """What to make of a downloaded picture: the job's kind and settings, a note for the
    member (shown after the result's summary), and its estimated engine time (None: unknown)."""

    kind: JobKind = JobKind.DREAM
    animation: AnimationParams | ZoomParams | None = None
    note: str | None = None
    seconds: float | None = None


def animation_params(settings: Settings) -> AnimationParams:
    """How the bot dreams animations: frames over ``DREAM_MAX_FRAMES`` are sampled, not refused."""
    side = min(settings.dream_max_side, settings.dream_animation_max_side)
    return AnimationParams(
        max_frames=settings.dream_max_frames,
        max_pixels=settings.dream_max_frames * side * side,
        max_side=side,
        sample=True,
    )


def seconds_of(cost: Cost, params: DreamParams, settings: Settings) -> float:
    """``cost`` in estimated seconds on the engine's device here."""
    return cost.seconds(resolve_device(settings.dream_device), model=params.model)


def check_time(cost: Cost, params: DreamParams, settings: Settings, *, what: str) -> float:
    """The estimated seconds of ``cost``; `BudgetExceeded` when that is longer than
    ``DREAM_ANIMATION_MAX_S`` here."""
    seconds = seconds_of(cost, params, settings)
    limit = settings.dream_animation_max_s
    if seconds > limit:
        raise BudgetExceeded(
            f"{what} ({cost.frames} frames) would take about {_duration(seconds)} to dream; "
            f"the limit here is {_duration(limit)}. Try fewer frames or steps, or a smaller "
            "picture."
        )
    return seconds


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} minutes"


async def plan_picture(
    data: bytes, params: DreamParams, settings: Settings, *, allowed: bool, guided: bool = False
) -> JobPlan:
    """A still dream, or every frame of an animated picture (when ``allowed``), within the
    frame budget and the time limit; reads only the header and the first frame."""
    # Pillow walks a GIF's blocks to count its frames: a few ms, but not on the event loop
    info = await asyncio.to_thread(probe_animation, data)
    still = seconds_of(estimate_dream(info.size, params, guided=guided), params, settings)
    if info.frames <= 1:
        return JobPlan(seconds=still)
    if not allowed:
        return JobPlan(note=FIRST_FRAME_ONLY, seconds=still)
    animation = animation_params(settings)
    width, height = info.size
    scale = min(1.0, animation.side(params) / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    plan = plan_frames(
        info.frames,
        size,
        max_frames=animation.max_frames,
        max_pixels=animation.max_pixels,
        sample=animation.sample,
    )
    cost = estimate_animation(len(plan.indices), size, params, animation, guided=guided)
    seconds = check_time(cost, params, settings, what="This animation")
    note = f"{len(plan.indices)} frames" + (f", {plan.note}" if plan.note else "")
    return JobPlan(kind=JobKind.ANIMATED, animation=animation, note=note, seconds=seconds)


async def plan_zoom(
    data: bytes, params: DreamParams, zoom: ZoomParams, settings: Settings, *, guided: bool = False
) -> JobPlan:
    """The zoom, if it fits the time limit at the picture's real size (the attachment's metadata
    was checked before the download)."""
    info = await asyncio.to_thread(probe_animation, data)
    cost = estimate_zoom(info.size, params, zoom, guided=guided)
    seconds = check_time(cost, params, settings, what="This zoom")
    return JobPlan(kind=JobKind.ZOOM, animation=zoom, seconds=seconds)


def last_frame(data: bytes) -> bytes:
    """The last frame of an animated GIF or WebP (a still picture: itself) as PNG: where a zoom
    goes on from. MP4 cannot be read here (`PIL.UnidentifiedImageError`)."""
    with Image.open(io.BytesIO(data)) as animation:
        animation.seek(getattr(animation, "n_frames", 1) - 1)
        frame = animation.convert("RGB")
    return encode(frame, stem="frame").data
