"""The end-to-end tests' fake Discord: `ResultsFake` (channels, deletions, subcommands and
clicks besides the core fake), discord.py pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.bot.support.results_fake import ResultsFake, serve


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ResultsFake]:
    async with serve(monkeypatch) as server:
        yield server
