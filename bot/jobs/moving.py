"""Running a moving job in the worker: an animation's every frame, or a zoom, with the engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.jobs.base import JobKind, JobRequest
from engine import AnimationParams, ZoomParams, dream_animation_bytes, zoom_bytes

if TYPE_CHECKING:
    from engine import Dreamer, Encoded, Progress

__all__ = ["run_moving"]


def run_moving(
    dreamer: Dreamer,
    request: JobRequest,
    *,
    progress: Callable[[Progress], None],
    cancel: threading.Event,
) -> Encoded:
    """Run an ``animated`` or ``zoom`` job (no animation settings: the engine's defaults)."""
    match request.kind:
        case JobKind.ZOOM:
            zoom = request.animation or ZoomParams()
            if not isinstance(zoom, ZoomParams):
                raise TypeError(f"a zoom needs ZoomParams, not {type(zoom).__name__}")
            return zoom_bytes(
                dreamer,
                request.picture,
                request.params,
                zoom,
                max_bytes=request.max_bytes,
                progress=progress,
                cancel=cancel,
            )
        case JobKind.ANIMATED:
            animation = request.animation or AnimationParams()
            if not isinstance(animation, AnimationParams):
                raise TypeError(
                    f"an animation needs AnimationParams, not {type(animation).__name__}"
                )
            return dream_animation_bytes(
                dreamer,
                request.picture,
                request.params,
                animation,
                max_bytes=request.max_bytes,
                progress=progress,
                cancel=cancel,
            )
    raise ValueError(f"not a moving job: {request.kind!r}")
