"""Moving dreams in the bot: what to make of a downloaded picture (a still dream, or every frame
of an animation), the animation budgets and time limit, and running such jobs in the worker."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine import (
    AnimationParams,
    BudgetExceeded,
    Cost,
    DreamParams,
    ZoomParams,
    estimate_animation,
    plan_frames,
    probe_animation,
    resolve_device,
)

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.jobs import JobRequest
    from bot.settings import Settings
    from engine import Dreamer, Encoded, Progress

__all__ = [
    "ANIMATED",
    "DREAM",
    "FIRST_FRAME_ONLY",
    "ZOOM",
    "JobPlan",
    "animation_params",
    "animations_allowed",
    "check_time",
    "plan_picture",
    "planner",
    "run_moving",
]

# JobRequest.kind values
DREAM = "dream"
ANIMATED = "animated"
ZOOM = "zoom"

FIRST_FRAME_ONLY = "animations are off here, so I dreamed the first frame only"


@dataclass(frozen=True, slots=True)
class JobPlan:
    """What to make of a downloaded picture: the job's kind and settings, and a note for the
    member (shown after the result's summary)."""

    kind: str = DREAM
    # the engine's AnimationParams / ZoomParams fields, JSON values only (the job may travel)
    animation: dict[str, Any] | None = None
    note: str | None = None

    def fields(self) -> dict[str, Any]:
        """The extra `JobRequest` fields."""
        return {"kind": self.kind, "animation": self.animation}


def animation_params(settings: Settings) -> AnimationParams:
    """How the bot dreams animations: frames over ``DREAM_MAX_FRAMES`` are sampled, not refused."""
    side = min(settings.dream_max_side, settings.dream_animation_max_side)
    return AnimationParams(
        max_frames=settings.dream_max_frames,
        max_pixels=settings.dream_max_frames * side * side,
        max_side=side,
        sample=True,
    )


def check_time(cost: Cost, params: DreamParams, settings: Settings, *, what: str) -> None:
    """`BudgetExceeded` when ``cost`` would take longer than ``DREAM_ANIMATION_MAX_S`` here."""
    device = resolve_device(settings.dream_device)
    seconds = cost.seconds(device, model=params.model)
    limit = settings.dream_animation_max_s
    if seconds > limit:
        raise BudgetExceeded(
            f"{what} ({cost.frames} frames) would take about {_duration(seconds)} to dream; "
            f"the limit here is {_duration(limit)}. Try fewer frames or steps, or a smaller "
            "picture."
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} minutes"


async def plan_picture(
    data: bytes, params: DreamParams, settings: Settings, *, allowed: bool
) -> JobPlan:
    """A still dream, or every frame of an animated picture (when ``allowed``), within the
    frame budget and the time limit; reads only the header and the first frame."""
    # Pillow walks a GIF's blocks to count its frames: a few ms, but not on the event loop
    info = await asyncio.to_thread(probe_animation, data)
    if info.frames <= 1:
        return JobPlan()
    if not allowed:
        return JobPlan(note=FIRST_FRAME_ONLY)
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
    cost = estimate_animation(len(plan.indices), size, params, animation)
    check_time(cost, params, settings, what="This animation")
    note = f"{len(plan.indices)} frames" + (f", {plan.note}" if plan.note else "")
    return JobPlan(kind=ANIMATED, animation=dataclasses.asdict(animation), note=note)


async def animations_allowed(bot: DreamBot, guild_id: int | None) -> bool:
    """``DREAM_ANIMATIONS``, narrowed by the server's own ``allow_animations`` setting if the
    server settings have one."""
    if not bot.settings.dream_animations:
        return False
    dreams = getattr(bot, "dreams", None)
    if dreams is None or guild_id is None:
        return True
    server = await dreams.server_settings(guild_id)
    return getattr(server, "allow_animations", None) is not False


def planner(
    bot: DreamBot, guild_id: int | None, params: DreamParams
) -> Callable[[bytes], Awaitable[JobPlan]]:
    """What `/dream` makes of the picture it downloaded: every frame of an animation if allowed."""

    async def plan(data: bytes) -> JobPlan:
        allowed = await animations_allowed(bot, guild_id)
        return await plan_picture(data, params, bot.settings, allowed=allowed)

    return plan


def run_moving(
    dreamer: Dreamer,
    request: JobRequest,
    *,
    progress: Callable[[Progress], None],
    cancel: threading.Event,
) -> Encoded:
    """Run an ``animated`` or ``zoom`` job with the engine (in the worker thread)."""
    options = request.animation or {}
    if request.kind == ZOOM:
        return dreamer.zoom_bytes(
            request.picture,
            request.params,
            ZoomParams(**options),
            max_bytes=request.max_bytes,
            progress=progress,
            cancel=cancel,
        )
    if request.kind == ANIMATED:
        return dreamer.dream_animation_bytes(
            request.picture,
            request.params,
            AnimationParams(**options),
            max_bytes=request.max_bytes,
            progress=progress,
            cancel=cancel,
        )
    raise ValueError(f"unknown kind of job {request.kind!r}")
