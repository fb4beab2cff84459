"""Tests for bot/__main__.py: start-up failures are one clear line, no traceback."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import discord
import pytest

import bot.__main__ as entry
from bot.bot import DreamBot
from bot.storage import DATABASE_FILE, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_process() -> Iterator[None]:
    """main() adds a handler to the root logger and freezes start-up's objects: undo both after
    each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    gc.unfreeze()


def test_no_token_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """`python -m bot` without DISCORD_TOKEN: one stderr line naming it, exit 2, no traceback."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("DISCORD_TOKEN is not set")


def test_rejected_token_prints_one_line_and_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When Discord rejects the token, main() says what to do in one line, exits 3, no traceback."""
    token = "rejected.token.value"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", token)
    monkeypatch.setenv("DREAM_DATA_DIR", str(tmp_path))

    async def refuse(self: DreamBot, token: str, *, reconnect: bool = True) -> None:
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(DreamBot, "start", refuse)
    assert entry.main() == entry.EXIT_LOGIN
    err = capsys.readouterr().err
    assert "Traceback" not in err and token not in err
    assert err.count("Discord rejected DISCORD_TOKEN") == 1


def test_unreachable_discord_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No network: main() says it could not reach Discord in one line and exits 4."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("DREAM_DATA_DIR", str(tmp_path))

    async def unreachable(self: DreamBot, token: str, *, reconnect: bool = True) -> None:
        raise aiohttp.ClientConnectionError("Cannot connect to host discord.com:443")

    monkeypatch.setattr(DreamBot, "start", unreachable)
    assert entry.main() == entry.EXIT_NETWORK
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("Could not reach Discord") == 1


def test_a_data_file_from_a_newer_bot_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data file the store refuses (newer schema): one line naming the folder, exit 5."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "fake-token-value")
    monkeypatch.setenv("DREAM_DATA_DIR", str(tmp_path))
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    connection.close()

    async def load_results(self: DreamBot, token: str, *, reconnect: bool = True) -> None:
        await self.open_dreams()  # as setup_hook does, before connecting

    monkeypatch.setattr(DreamBot, "start", load_results)
    assert entry.main() == entry.EXIT_DATA
    err = capsys.readouterr().err
    assert "Traceback" not in err and " ERROR " not in err
    (line,) = [line for line in err.splitlines() if "newer version" in line]
    assert line.startswith(f"Cannot use the data in {tmp_path}") and "DREAM_DATA_DIR" in line


def test_sigterm_shuts_the_bot_down_gracefully(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SIGTERM while running closes the bot (jobs drained) and main() returns 0."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("DREAM_DATA_DIR", str(tmp_path))
    closed: list[str] = []
    frozen: list[int] = []

    async def run_until_closed(self: DreamBot, token: str, *, reconnect: bool = True) -> None:
        frozen.append(gc.get_freeze_count())
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        while not self.is_closed():
            await asyncio.sleep(0.01)

    async def drain(self: DreamBot) -> None:
        closed.append("drained")

    monkeypatch.setattr(DreamBot, "start", run_until_closed)
    monkeypatch.setattr(DreamBot, "_drain", drain)
    assert entry.main() == 0
    assert closed == ["drained"]
    # start-up's objects are out of the full collections that would stall the event loop
    assert frozen and frozen[0] > 100_000
