"""Tests for bot/cooldowns.py: per-member cooldown between accepted dreams."""

from __future__ import annotations

import pytest

from bot.cooldowns import Cooldowns
from bot.errors import OnCooldown


def test_cooldown_per_member_with_retry_after() -> None:
    """After a dream is accepted, the same member waits; others don't; it ends on time."""
    now = [0.0]
    cooldowns = Cooldowns(10, clock=lambda: now[0])
    cooldowns.check(1)
    cooldowns.start(1)
    now[0] = 4.0
    with pytest.raises(OnCooldown, match="6 s") as caught:
        cooldowns.check(1)
    assert caught.value.retry_after == pytest.approx(6)
    cooldowns.check(2)
    now[0] = 10.0
    cooldowns.check(1)


def test_zero_seconds_turns_the_cooldown_off() -> None:
    """DREAM_COOLDOWN_S=0 never refuses."""
    cooldowns = Cooldowns(0)
    cooldowns.start(1)
    cooldowns.check(1)
