"""Tests for bot/cogs/queue_info.py without Discord: the /dream-queue and /dream-history texts."""

from __future__ import annotations

from bot.cogs.queue_info import duration, history_embed, queue_text
from bot.dreams import QueueView


def view(**overrides: object) -> QueueView:
    values: dict[str, object] = {
        "waiting": 0,
        "running": False,
        "positions": (),
        "mine_running": False,
        "typical_s": None,
    }
    return QueueView(**{**values, **overrides})  # type: ignore[arg-type]


def test_durations_read_like_people_say_them() -> None:
    """Seconds under a minute and a half, then minutes, then hours."""
    assert [duration(s) for s in (0.2, 40, 89, 95, 3000, 7200)] == [
        "1 s",
        "40 s",
        "89 s",
        "2 min",
        "50 min",
        "2 h",
    ]


def test_queue_text() -> None:
    """The count, the member's places and an estimate from a typical dream's time."""
    assert "Nobody is waiting" in queue_text(view())
    text = queue_text(view(waiting=3, running=True, positions=(2, 3), typical_s=20.0))
    assert "3 dreams waiting, and one is being dreamed now" in text
    assert "Yours are at 2 and 3" in text and "in about 40 s" in text
    assert "starts next" in queue_text(view(waiting=1, positions=(1,)))
    assert "can't estimate" in queue_text(view(waiting=2, running=True, positions=(2,)))
    assert "being dreamed now" in queue_text(view(running=True, mine_running=True))


def test_history_without_dreams() -> None:
    """A member without dreams here is invited to make one."""
    assert "No dreams" in (history_embed([]).description or "")
