"""Per-member cooldown between two accepted dreams."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.errors import OnCooldown

__all__ = ["Cooldowns"]


class Cooldowns:
    """Remembers when each member's last dream was accepted; ``seconds == 0`` turns it off."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._last: dict[int, float] = {}

    def check(self, user_id: int) -> None:
        """Raise `OnCooldown` if the member must wait longer."""
        last = self._last.get(user_id)
        if last is None:
            return
        left = self.seconds - (self._clock() - last)
        if left > 0:
            raise OnCooldown(left)

    def start(self, user_id: int) -> None:
        """The member's dream was accepted: their cooldown starts now."""
        if self.seconds <= 0:
            return
        now = self._clock()
        self._last[user_id] = now
        # forget members whose cooldown is over, so the map stays small
        if len(self._last) > 1000:
            self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}
