"""Values for the bot's unit tests: the bot's settings, an idle backend, a stored dream."""

from __future__ import annotations

from typing import Any

from bot.jobs import LocalBackend
from bot.settings import Settings
from bot.storage import DreamKind, DreamRecord, DreamState
from engine import DreamParams


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "discord_token": "t",
        "dream_models": "efficientnet_lite0,googlenet",
        "dream_max_side": 512,
        "dream_user_queue_limit": 3,
        "dream_cooldown_s": 10,
    }
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


def idle_backend() -> LocalBackend:
    return LocalBackend(make_runner=lambda: None)  # type: ignore[arg-type,return-value]


def record(**overrides: Any) -> DreamRecord:
    values: dict[str, Any] = {
        "id": "a" * 32,
        "guild_id": 1,
        "channel_id": 2,
        "user_id": 7,
        "kind": DreamKind.DREAM,
        "parent_id": None,
        "origin_id": "a" * 32,
        "params": DreamParams(steps=3, octaves=2, seed=11, layers=("eyes",), max_side=256),
        "state": DreamState.DONE,
        "created_at": 1_700_000_000.0,
        "started_at": None,
        "finished_at": None,
        "seconds": 2.25,
        "error": None,
        "has_input": True,
        "has_output": True,
        "output_filename": "dream.png",
        "message_id": 3,
        "interaction_id": None,
        "interaction_token": None,
        "max_bytes": None,
        "deleted": False,
    }
    return DreamRecord(**{**values, **overrides})
