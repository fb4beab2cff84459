"""Tests for bot/progress.py: the waiting text and the edit throttle."""

from __future__ import annotations

from bot.jobs import JobState, JobStatus
from bot.progress import Throttle, progress_bar, status_text
from engine import Progress


def test_progress_bar_fills_in_proportion() -> None:
    """The bar has a fixed width and fills with the fraction, clamped to 0..1."""
    assert progress_bar(0, width=10) == "░" * 10
    assert progress_bar(0.5, width=10) == "▓" * 5 + "░" * 5
    assert progress_bar(2, width=4) == "▓" * 4


def test_status_text_shows_position_then_octave_and_step() -> None:
    """Queued shows the position; running shows octave/step, a bar and the percentage."""
    assert "position 3" in status_text(JobStatus(JobState.QUEUED, position=3))
    assert "next" in status_text(JobStatus(JobState.QUEUED, position=1))
    text = status_text(JobStatus(JobState.RUNNING, progress=Progress(2, 4, 5, 10)))
    assert "octave 2/4" in text and "step 5/10" in text and "38%" in text
    assert "▓" in text


def test_throttle_lets_through_at_most_once_per_interval() -> None:
    """With an injected clock, ready() is true at most every 2 s unless forced."""
    now = [100.0]
    throttle = Throttle(2.0, clock=lambda: now[0])
    assert throttle.ready()
    now[0] = 101.9
    assert not throttle.ready()
    now[0] = 102.0
    assert throttle.ready()
    now[0] = 102.5
    assert throttle.ready(force=True)
    now[0] = 104.0
    assert not throttle.ready()  # the forced one restarted the interval
    now[0] = 104.5
    assert throttle.ready()
