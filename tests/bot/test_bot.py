"""Tests for bot/bot.py without Discord: cogs load, commands sync on change, close drains."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import discord
import pytest

from bot.bot import PERMISSIONS, DreamBot, account_install_url, invite_url
from bot.jobs import Job, JobRequest
from bot.settings import Settings


class Backend:
    """A JobBackend that records its lifecycle and runs nothing."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def describe(self) -> str:
        return "stub"

    def reserve(self, user_id: int) -> Any:
        raise NotImplementedError

    async def submit(self, request: JobRequest) -> Job:
        raise NotImplementedError

    async def close(self, *, timeout: float) -> None:
        self.calls.append(f"close {timeout:g}")


def make_bot(tmp_path: Path, synced: list[Any], **overrides: Any) -> tuple[DreamBot, Backend]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, discord_token="t", dream_data_dir=tmp_path, **overrides
    )
    backend = Backend()
    bot = DreamBot(settings=settings, jobs=backend)
    bot._connection.application_id = 1234

    async def sync(*, guild: discord.abc.Snowflake | None = None) -> list[Any]:
        synced.append(guild.id if guild else None)
        return []

    bot.tree.sync = sync  # type: ignore[method-assign]
    return bot, backend


def test_invite_url_has_the_scopes_and_permissions() -> None:
    """The invite asks for the bot and applications.commands scopes and the needed permissions."""
    query = parse_qs(urlparse(invite_url(1234)).query)
    assert query["client_id"] == ["1234"]
    assert set(query["scope"][0].split()) == {"bot", "applications.commands"}
    permissions = discord.Permissions(int(query["permissions"][0]))
    assert permissions == PERMISSIONS
    assert permissions.send_messages and permissions.attach_files
    assert permissions.embed_links and permissions.read_message_history


def test_the_account_install_link_asks_for_commands_only() -> None:
    """Installing to a member's account takes the applications.commands scope alone, as a user
    install (integration type 1), and no bot permissions."""
    query = parse_qs(urlparse(account_install_url(1234)).query)
    assert query["client_id"] == ["1234"]
    assert query["scope"] == ["applications.commands"]
    assert query["integration_type"] == ["1"] and "permissions" not in query


async def test_setup_hook_loads_the_cogs_and_syncs_only_on_change(tmp_path: Path) -> None:
    """setup_hook starts the jobs, loads /dream, /layers and the menu, and syncs once per change."""
    synced: list[Any] = []
    bot, backend = make_bot(tmp_path, synced)
    await bot.setup_hook()
    names = {command.name for command in bot.tree.get_commands()}
    assert names == {
        "dream",
        "layers",
        "Dream this image",
        "dream-settings",
        "dream-queue",
        "dream-history",
        "dream-zoom",
    }
    assert backend.calls == ["start"] and synced == [None]
    await bot.close()

    again, _ = make_bot(tmp_path, synced)
    await again.setup_hook()
    assert synced == [None]
    await again.close()


async def test_dev_guild_gets_the_commands(tmp_path: Path) -> None:
    """With DREAM_DEV_GUILD the global commands are copied to that guild and synced there."""
    synced: list[Any] = []
    bot, _ = make_bot(tmp_path, synced, dream_dev_guild=42)
    await bot.setup_hook()
    assert synced == [42]
    assert {c.name for c in bot.tree.get_commands(guild=discord.Object(42))} >= {"dream"}
    await bot.close()


async def test_close_closes_the_jobs_and_waits_for_answers_in_flight(tmp_path: Path) -> None:
    """close() closes the backend with the shutdown timeout and waits for tracked answers."""
    bot, backend = make_bot(tmp_path, [], dream_shutdown_timeout_s=7)
    finished: list[bool] = []

    async def answer() -> None:
        bot.track_current_task()
        await asyncio.sleep(0.05)
        finished.append(True)

    task = asyncio.create_task(answer())
    await asyncio.sleep(0)
    await bot.close()
    assert backend.calls == ["close 7"]
    assert finished == [True] and task.done()
    await bot.close()  # a second close is harmless
    assert backend.calls == ["close 7"]


@pytest.mark.parametrize("extension", ["bot.cogs.dream", "bot.cogs.layers", "bot.cogs.errors"])
async def test_each_cog_unloads_cleanly(tmp_path: Path, extension: str) -> None:
    """Every extension can be loaded and unloaded, leaving no commands behind."""
    bot, _ = make_bot(tmp_path, [])
    await bot.open_dreams()  # as setup_hook does before any extension
    await bot.load_extension(extension)
    await bot.unload_extension(extension)
    assert bot.tree.get_commands() == []
    await bot.close()
