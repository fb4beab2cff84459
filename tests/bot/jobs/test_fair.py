"""Tests for bot/jobs/fair.py: round-robin between users, first come first served within one."""

from __future__ import annotations

import pytest

from bot.jobs.fair import FairQueue


def _drain_by_pop(queue: FairQueue[str]) -> list[str]:
    return [queue.pop() for _ in range(len(queue))]


def test_round_robin_between_users() -> None:
    """Each waiting user gets one turn before anyone gets a second, whatever the arrival order."""
    queue: FairQueue[str] = FairQueue()
    for user, item in [(1, "a1"), (1, "a2"), (1, "a3"), (2, "b1"), (2, "b2"), (3, "c1")]:
        queue.push(user, item)
    assert list(queue) == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert _drain_by_pop(queue) == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_a_user_just_served_waits_behind_the_others() -> None:
    """A member whose job just left queues behind members who have not had this turn yet."""
    queue: FairQueue[str] = FairQueue()
    queue.push(1, "a1")
    assert queue.pop() == "a1"
    queue.push(1, "a2")
    queue.push(2, "b1")
    assert list(queue) == ["b1", "a2"]


def test_idle_users_bank_no_credit() -> None:
    """A member who was away does not jump ahead of a round already being served."""
    queue: FairQueue[str] = FairQueue()
    for item in ["a1", "a2", "a3"]:
        queue.push(1, item)
    queue.push(2, "b1")
    assert [queue.pop(), queue.pop(), queue.pop()] == ["a1", "b1", "a2"]
    queue.push(3, "c1")  # arrives during turn 1, before a3 (turn 2)
    assert list(queue) == ["c1", "a3"]


def test_remove_count_and_drain() -> None:
    """remove takes one item out, count counts a user's items, drain empties in order."""
    queue: FairQueue[str] = FairQueue()
    queue.push(1, "a1")
    queue.push(1, "a2")
    queue.push(2, "b1")
    assert queue.count(1) == 2 and queue.count(3) == 0
    assert queue.remove("a2") and not queue.remove("zz")
    assert queue.count(1) == 1
    assert queue.drain() == ["a1", "b1"]
    assert len(queue) == 0


def test_pop_on_empty_raises_index_error() -> None:
    """Popping an empty queue raises IndexError."""
    queue: FairQueue[str] = FairQueue()
    with pytest.raises(IndexError):
        queue.pop()
