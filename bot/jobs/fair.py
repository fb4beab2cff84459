"""A queue fair across users: each waiting member gets a turn before anyone gets a second one."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["FairQueue"]

T = TypeVar("T")


@dataclass(order=True, slots=True)
class _Entry(Generic[T]):
    turn: int
    seq: int
    user: Hashable = field(compare=False)
    item: T = field(compare=False)


class FairQueue(Generic[T]):
    """Round-robin between users, first come first served within one user's items.

    Each item gets a turn number: one more than the same user's previous item, but never earlier
    than the turn being served now. Items leave in (turn, arrival) order, so a member who was just
    served waits behind everyone who has not had this turn yet, and idle members bank no credit.
    """

    def __init__(self) -> None:
        self._entries: list[_Entry[T]] = []
        self._seq = itertools.count()
        self._turn = 0  # the turn of the item served last
        self._last_turn: dict[Hashable, int] = {}  # each user's latest turn, while it matters

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[T]:
        """The items in the order they would leave if nothing else arrived."""
        return (entry.item for entry in self._entries)

    def push(self, user: Hashable, item: T) -> None:
        turn = max(self._last_turn.get(user, self._turn - 1) + 1, self._turn)
        self._last_turn[user] = turn
        self._entries.append(_Entry(turn, next(self._seq), user, item))
        self._entries.sort()

    def pop(self) -> T:
        """The next item; IndexError when empty."""
        entry = self._entries.pop(0)
        self._turn = entry.turn
        # a user whose latest turn is behind the current one would get the current turn anyway
        self._last_turn = {u: t for u, t in self._last_turn.items() if t >= self._turn}
        return entry.item

    def remove(self, item: T) -> bool:
        """Take an item out (a cancelled job); False if it was not there."""
        for index, entry in enumerate(self._entries):
            if entry.item is item:
                del self._entries[index]
                return True
        return False

    def count(self, user: Hashable) -> int:
        return sum(1 for entry in self._entries if entry.user == user)

    def drain(self) -> list[T]:
        """Take every item out, in order."""
        items = [entry.item for entry in self._entries]
        self._entries.clear()
        return items
