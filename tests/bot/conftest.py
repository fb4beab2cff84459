"""Fixtures for the bot tests: a fake Discord that discord.py points at, and the real DreamBot."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import discord.gateway
import discord.http
import pytest
import yarl
from PIL import Image

from tests.bot.support.fake_discord import FakeDiscord

DATA = Path(__file__).resolve().parents[1] / "data"
TOKEN = "fake-token"


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A running fake Discord; discord.py's REST base and gateway point at it for the test."""
    async with FakeDiscord() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        monkeypatch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url)
        )
        yield server


def picture_bytes(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def cat_photo() -> bytes:
    """tests/data/chelsea.png (a cat, 451x300) scaled to 120x80, as PNG."""
    with Image.open(DATA / "chelsea.png") as image:
        return picture_bytes(image.convert("RGB").resize((120, 80), Image.Resampling.LANCZOS))


@pytest.fixture
def bot_settings(tmp_path: Path) -> Callable[..., Any]:
    """Builds the bot's Settings for a test: tmp data dir, CPU, tiny pictures, no cooldown."""
    from bot.settings import Settings

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "discord_token": TOKEN,
            "dream_data_dir": tmp_path / "data",
            "dream_device": "cpu",
            "dream_max_side": 96,
            "dream_cooldown_s": 0,
            "dream_queue_limit": 20,
            "dream_user_queue_limit": 2,
            "dream_shutdown_timeout_s": 10,
            "dream_dev_guild": None,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


class GatedRunner:
    """A stand-in for the engine: records the jobs it ran, in order, and can hold them.

    While ``gate`` is clear every job waits for it (so a queue builds up); each job then reports
    ``steps`` progress updates ``step_s`` apart; ``fail_for`` makes one member's jobs raise an
    unexpected error.
    """

    def __init__(self, *, hold: bool = False, steps: int = 1, step_s: float = 0.0) -> None:
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.started = threading.Event()
        self.steps = steps
        self.step_s = step_s
        self.requests: list[Any] = []
        self.fail_for: set[int] = set()

    @property
    def order(self) -> list[int]:
        """The members whose jobs ran, in the order they started."""
        return [request.user_id for request in self.requests]

    def __call__(self, request: Any, *, progress: Any, cancel: threading.Event) -> Any:
        from engine import DreamCancelled, Progress, encode

        self.requests.append(request)
        self.started.set()
        while not self.gate.wait(0.02):
            if cancel.is_set():
                raise DreamCancelled("cancelled")
        if request.user_id in self.fail_for:
            raise RuntimeError("Traceback (most recent call last): secret internal detail")
        for step in range(1, self.steps + 1):
            time.sleep(self.step_s)
            progress(Progress(octave=1, octaves=1, step=step, steps=self.steps))
        return encode(Image.new("RGB", (32, 24), (10, 200, 30)), stem="dream")


@pytest.fixture
def start_bot(
    fake: FakeDiscord, bot_settings: Callable[..., Any]
) -> Callable[..., contextlib.AbstractAsyncContextManager[Any]]:
    """``async with start_bot(runner=None, **settings) as bot``: the real DreamBot on the fake.

    Without ``runner`` the bot runs the real engine (efficientnet_lite0 on the CPU).
    """
    from bot.bot import DreamBot
    from bot.jobs import LocalBackend

    @contextlib.asynccontextmanager
    async def start(*, runner: Any = None, **overrides: Any) -> AsyncIterator[DreamBot]:
        settings = bot_settings(**overrides)
        jobs = None
        if runner is not None:
            jobs = LocalBackend(
                make_runner=lambda: runner,
                queue_limit=settings.dream_queue_limit,
                user_limit=settings.dream_user_queue_limit,
            )
        bot = DreamBot(settings=settings, jobs=jobs)
        # discord.py waits this long after the last GUILD_CREATE before on_ready; the fake sends one
        bot._connection.guild_ready_timeout = 0.05
        try:
            async with fake.running(bot, token=TOKEN):
                # the engine (or runner) is built in the worker thread in the background
                await asyncio.wait_for(bot.jobs.describe(), 60)
                yield bot
        finally:
            if runner is not None:
                runner.gate.set()  # never leave the worker thread waiting

    return start
