"""Tests for bot/sync.py: commands are synced only when their definition changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.sync import SYNC_FILE, commands_hash, sync_commands


class Command:
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    def to_dict(self, tree: Any) -> dict[str, Any]:
        return dict(self.payload)


class Tree:
    """Stands in for app_commands.CommandTree: commands per guild (None: global), syncs counted."""

    def __init__(self) -> None:
        self.commands: dict[int | None, list[Command]] = {None: [Command({"name": "dream"})]}
        self.synced: list[int | None] = []
        self.fail = False

    def get_commands(self, *, guild: discord.abc.Snowflake | None = None) -> list[Command]:
        return self.commands.get(guild.id if guild else None, [])

    async def sync(self, *, guild: discord.abc.Snowflake | None = None) -> list[Any]:
        if self.fail:
            raise RuntimeError("Discord said no")
        self.synced.append(guild.id if guild else None)
        return self.get_commands(guild=guild)


async def test_syncs_first_time_then_only_after_a_change(tmp_path: Path) -> None:
    """First start syncs; an unchanged tree does not; a changed definition syncs again."""
    tree = Tree()
    assert await sync_commands(tree, application_id=1, data_dir=tmp_path)
    assert not await sync_commands(tree, application_id=1, data_dir=tmp_path)
    tree.commands[None].append(Command({"name": "layers"}))
    assert await sync_commands(tree, application_id=1, data_dir=tmp_path)
    assert tree.synced == [None, None]
    stored = json.loads((tmp_path / SYNC_FILE).read_text())
    assert stored == {"1:global": commands_hash(tree)}


async def test_hash_is_kept_per_guild_and_application(tmp_path: Path) -> None:
    """A guild sync and a global sync, or another application, do not share a hash."""
    tree = Tree()
    guild = discord.Object(42)
    tree.commands[42] = tree.commands[None]
    assert await sync_commands(tree, application_id=1, data_dir=tmp_path, guild=guild)
    assert await sync_commands(tree, application_id=1, data_dir=tmp_path)
    assert await sync_commands(tree, application_id=2, data_dir=tmp_path)
    assert not await sync_commands(tree, application_id=1, data_dir=tmp_path, guild=guild)
    assert tree.synced == [42, None, None]


async def test_a_failed_sync_is_retried_next_start(tmp_path: Path) -> None:
    """The hash is stored only after Discord accepted the sync."""
    tree = Tree()
    tree.fail = True
    with pytest.raises(RuntimeError):
        await sync_commands(tree, application_id=1, data_dir=tmp_path)
    tree.fail = False
    assert await sync_commands(tree, application_id=1, data_dir=tmp_path)


async def test_an_unreadable_record_means_sync(tmp_path: Path) -> None:
    """A corrupt command-sync.json is ignored (with a warning) and rewritten."""
    (tmp_path / SYNC_FILE).write_text("{not json")
    tree = Tree()
    assert await sync_commands(tree, application_id=1, data_dir=tmp_path)
    assert json.loads((tmp_path / SYNC_FILE).read_text())


def test_hash_is_independent_of_key_order() -> None:
    """The same payload with keys in another order hashes the same."""
    a, b = Tree(), Tree()
    a.commands[None] = [Command({"name": "dream", "description": "d"})]
    b.commands[None] = [Command({"description": "d", "name": "dream"})]
    assert commands_hash(a) == commands_hash(b)
