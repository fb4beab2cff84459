"""Tests for bot/cogs/errors.py: every error becomes a short friendly answer, never a traceback."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.cogs.errors import SOMETHING_WENT_WRONG, Errors, explain
from bot.errors import QueueFull
from engine import UnknownLayer


def invoke_error(original: Exception) -> app_commands.CommandInvokeError:
    command = SimpleNamespace(name="dream", qualified_name="dream")
    return app_commands.CommandInvokeError(command, original)  # type: ignore[arg-type]


def test_explain_maps_each_kind() -> None:
    """Bot and engine errors keep their message (unwrapped); cooldowns and checks get one line."""
    assert explain(invoke_error(QueueFull(3))) == str(QueueFull(3))
    assert explain(UnknownLayer("There is no layer 'x'.")) == "There is no layer 'x'."
    cooldown = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 10), 4.2)
    assert explain(cooldown) == "Easy there, give me 4 s before your next try."
    assert "servers only" in str(explain(app_commands.NoPrivateMessage()))
    assert "attach files" in str(explain(app_commands.BotMissingPermissions(["attach_files"])))
    assert explain(invoke_error(ZeroDivisionError("x"))) is None


class Response:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bool]] = []
        self.type = None

    def is_done(self) -> bool:
        return bool(self.sent)

    async def send_message(self, content: str, *, ephemeral: bool = False) -> None:
        self.sent.append((content, ephemeral))


def interaction() -> Any:
    return SimpleNamespace(
        type=discord.InteractionType.application_command,
        command=SimpleNamespace(qualified_name="dream"),
        user=SimpleNamespace(id=7),
        created_at=discord.utils.utcnow(),
        response=Response(),
        extras={},
    )


@pytest.fixture
def handler() -> Errors:
    tree = SimpleNamespace(on_error=None)
    return Errors(SimpleNamespace(tree=tree))  # type: ignore[arg-type]


async def test_unexpected_error_is_logged_not_shown(
    handler: Errors, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug is logged with its traceback; the member gets the generic ephemeral apology."""
    target = interaction()
    try:
        raise KeyError("internal detail")
    except KeyError as error:
        wrapped = invoke_error(error)
    with caplog.at_level(logging.ERROR, logger="bot.cogs.errors"):
        await handler.on_app_command_error(target, wrapped)
    [(content, ephemeral)] = target.response.sent
    assert ephemeral and SOMETHING_WENT_WRONG in content and "internal detail" not in content
    [record] = caplog.records
    assert record.exc_info is not None and "KeyError" in caplog.text


async def test_bot_error_is_answered_ephemerally_with_its_message(handler: Errors) -> None:
    """A BotError before any response becomes an ephemeral message with its text."""
    target = interaction()
    await handler.on_app_command_error(target, invoke_error(QueueFull(20)))
    [(content, ephemeral)] = target.response.sent
    assert ephemeral and "queue is full" in content


async def test_the_handler_installs_and_removes_itself(handler: Errors) -> None:
    """While loaded the cog is the tree's error handler; unloading restores the previous one."""
    assert handler.bot.tree.on_error == handler.on_app_command_error
    await handler.cog_unload()
    assert handler.bot.tree.on_error is None
