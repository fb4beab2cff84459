"""The one line shown with every result (a dream, an animation, a zoom), whichever way it is
answered: by the command, by a result's controls, or after a restart."""

from __future__ import annotations

from typing import Any

from bot.animation import ZOOM
from engine import DreamParams, ZoomParams, default_preset

__all__ = ["count", "layer_name", "summary"]


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def layer_name(params: DreamParams) -> str:
    return params.layers[0] if params.layers else default_preset(params.model).name


def summary(
    params: DreamParams,
    seconds: float,
    *,
    kind: str = "dream",
    animation: dict[str, Any] | None = None,
    note: str | None = None,
) -> str:
    """The result line of a job (`JobRequest`'s ``kind`` and ``animation``), then ``note``."""
    if kind == ZOOM:
        zoom = ZoomParams(**(animation or {}))
        turn = f" · {zoom.rotate:g}° a frame" if zoom.rotate else ""
        line = (
            f"🌀 zoom · {params.model} · {layer_name(params)} · {zoom.frames} frames × "
            f"{zoom.zoom * 100:g}%{turn} · {zoom.steps} steps each · seed {params.seed}"
            f" · {seconds:.1f} s"
        )
    else:
        line = (
            f"🌀 {params.model} · {layer_name(params)} · {count(params.steps, 'step')}"
            f" × {count(params.octaves, 'octave')} · strength {params.strength:g}"
            f" · seed {params.seed} · {seconds:.1f} s"
        )
    return f"{line} · {note}" if note else line
