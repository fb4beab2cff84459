"""Syncing application commands only when their definition changed since the last sync:
Discord allows 200 command creations a day per guild."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import discord

__all__ = ["SYNC_FILE", "commands_hash", "sync_commands"]

log = logging.getLogger(__name__)

SYNC_FILE = "command-sync.json"


class _Tree(Protocol):
    def get_commands(self, *, guild: discord.abc.Snowflake | None = None) -> list[Any]: ...

    async def sync(self, *, guild: discord.abc.Snowflake | None = None) -> list[Any]: ...


def commands_hash(tree: _Tree, *, guild: discord.abc.Snowflake | None = None) -> str:
    """SHA-256 of the payload a sync would send for ``guild`` (None: the global commands)."""
    payload = [command.to_dict(tree) for command in tree.get_commands(guild=guild)]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("Ignoring unreadable %s (%s); commands will be synced again", path, error)
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _save(path: Path, record: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


async def sync_commands(
    tree: _Tree,
    *,
    application_id: int | None,
    data_dir: Path,
    guild: discord.abc.Snowflake | None = None,
) -> bool:
    """Sync ``tree`` for ``guild`` (None: globally) if its hash differs from the stored one.

    The hash is stored per application and guild in ``data_dir/command-sync.json`` only after
    Discord accepted the sync. Returns whether a sync happened.
    """
    key = f"{application_id}:{guild.id if guild else 'global'}"
    path = data_dir / SYNC_FILE
    record = _load(path)
    digest = commands_hash(tree, guild=guild)
    where = f"guild {guild.id}" if guild else "globally"
    if record.get(key) == digest:
        log.info("Commands unchanged since the last sync %s; not syncing", where)
        return False
    synced = await tree.sync(guild=guild)
    log.info("Synced %d commands %s", len(synced), where)
    record[key] = digest
    _save(path, record)
    return True
