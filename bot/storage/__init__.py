"""Storage: the dreams, their pictures and per-server settings in SQLite under DREAM_DATA_DIR."""

from bot.storage._records import (
    DreamKind,
    DreamRecord,
    DreamState,
    ServerSettings,
    StorageError,
    animation_from_json,
    animation_to_json,
    params_from_json,
    params_to_json,
)
from bot.storage._schema import SCHEMA_VERSION
from bot.storage._store import DATABASE_FILE, PICTURES_DIR, Store

__all__ = [
    "DATABASE_FILE",
    "PICTURES_DIR",
    "SCHEMA_VERSION",
    "DreamKind",
    "DreamRecord",
    "DreamState",
    "ServerSettings",
    "StorageError",
    "Store",
    "animation_from_json",
    "animation_to_json",
    "params_from_json",
    "params_to_json",
]
