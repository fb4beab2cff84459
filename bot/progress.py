"""What a waiting member sees: queue position and progress text, and a throttle for the edits."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.jobs import JobState, JobStatus
from engine import FrameProgress

__all__ = ["PROGRESS_INTERVAL_S", "Throttle", "progress_bar", "status_text"]

# Discord rate-limits edits of one message; one every 2 s also reads calmly
PROGRESS_INTERVAL_S = 2.0


def progress_bar(fraction: float, *, width: int = 20) -> str:
    """``▓▓▓▓░░░░`` with ``width`` cells, ``fraction`` (clamped to 0..1) of them filled."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "▓" * filled + "░" * (width - filled)


def status_text(status: JobStatus) -> str:
    """The deferred reply's text for a queued or running job."""
    if status.state is JobState.QUEUED:
        if status.position == 1:
            return "⏳ You're next in the queue."
        return f"⏳ Waiting in the queue: position {status.position}."
    if status.state is JobState.RUNNING:
        p = status.progress
        if p is None:
            return "🌀 Dreaming… warming up."
        if isinstance(p, FrameProgress):
            return (
                f"🌀 Dreaming… {p.frames_done}/{p.frames} frames done\n"
                f"`{progress_bar(p.fraction)}` {p.fraction:.0%}"
            )
        return (
            f"🌀 Dreaming… octave {p.octave}/{p.octaves}, step {p.step}/{p.steps}\n"
            f"`{progress_bar(p.fraction)}` {p.fraction:.0%}"
        )
    return "✅ Done." if status.state is JobState.DONE else "⚠️ Stopped."


class Throttle:
    """Lets an action through at most once every ``interval`` seconds (``force`` always does)."""

    def __init__(
        self, interval: float = PROGRESS_INTERVAL_S, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    def ready(self, *, force: bool = False) -> bool:
        now = self._clock()
        if force or self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False
