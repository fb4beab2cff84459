"""The bot's one typed settings object, read from the environment and an optional ``.env``."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["EngineSettings", "Settings"]

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


class EngineSettings(BaseSettings):
    """What every process that runs the engine reads (the bot and each Celery worker)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # the models to load; for the bot, the ones members may choose, the first the default
    dream_models: Annotated[tuple[str, ...], NoDecode] = ("efficientnet_lite0",)
    # where the engine runs: auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps
    dream_device: str = "auto"
    # the engine's CPU threads; 0: one per physical core this process may use
    dream_cpu_threads: int = Field(default=0, ge=0, le=1024)
    # the Redis of the celery backend (broker, results, limits): redis://[:password@]host:port/db
    dream_redis_url: str = "redis://127.0.0.1:6379/0"
    # DEBUG, INFO, WARNING or ERROR
    log_level: str = "INFO"

    @field_validator("dream_models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("dream_models")
    @classmethod
    def _known_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from engine import available_models  # torch is imported only once settings are read

        if not value:
            raise ValueError("name at least one model")
        known = available_models()
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown model {', '.join(unknown)}; choose from {', '.join(known)}")
        return tuple(dict.fromkeys(value))

    @field_validator("dream_device")
    @classmethod
    def _device(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DEVICE.fullmatch(value):
            raise ValueError(f"{value!r} is not one of auto, cpu, cuda, cuda:N, mps")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in logging.getLevelNamesMapping():
            raise ValueError(f"{value!r} is not one of DEBUG, INFO, WARNING, ERROR")
        return value


class Settings(EngineSettings):
    """Everything the bot reads at start; each field is an upper-case environment variable."""

    # the bot's token from the Discord developer portal (Bot -> Reset Token)
    discord_token: SecretStr
    # longest side of a dreamed picture; larger pictures are scaled down first
    dream_max_side: int = Field(default=1024, ge=64, le=4096)
    # dreams waiting in the queue for everyone together (the running one not counted)
    dream_queue_limit: int = Field(default=20, ge=1)
    # dreams one member may have waiting or running at once
    dream_user_queue_limit: int = Field(default=2, ge=1)
    # seconds a member waits between two dreams; 0 turns the cooldown off
    dream_cooldown_s: float = Field(default=10, ge=0)
    # seconds a stopping bot lets the running dream finish before cancelling it
    dream_shutdown_timeout_s: float = Field(default=60, ge=0)
    # where the bot keeps its files (the command-sync hash, the dreams database and pictures)
    dream_data_dir: Path = Path("data")
    # days a dream's pictures are kept for its buttons (Dream deeper, Another layer)
    dream_retention_days: float = Field(default=7, gt=0, le=3650)
    # a server id: commands are synced there only, instantly (for development)
    dream_dev_guild: int | None = None
    # where dreams run: local (a worker thread in this process) or celery (deepdream-worker
    # processes, through Redis; see "Scaling out" in the README)
    dream_backend: Literal["local", "celery"] = "local"
    # moving dreams: /dream dreams every frame of an animated GIF, WebP or PNG (false: the first
    # frame only; a server's own setting may turn them off too)
    dream_animations: bool = True
    # frames in one animation: /dream-zoom's most, and an animation's (above it every n-th is kept)
    dream_max_frames: int = Field(default=48, ge=2, le=500)
    # longest side of an animation's frames (at most DREAM_MAX_SIDE; every frame is a dream)
    dream_animation_max_side: int = Field(default=384, ge=64, le=2048)
    # an animation whose estimated engine time is longer is refused before it is queued
    dream_animation_max_s: float = Field(default=600, gt=0)

    @field_validator("discord_token")
    @classmethod
    def _token_given(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value().strip()
        if not token:
            raise ValueError("it is empty; paste the bot's token from the developer portal")
        return SecretStr(token)

    @field_validator("dream_backend", mode="before")
    @classmethod
    def _backend_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("dream_dev_guild", mode="before")
    @classmethod
    def _empty_guild(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def default_model(self) -> str:
        return self.dream_models[0]
