"""End to end: /dream-settings confines and tunes /dream per server, for Manage Server only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.bot.conftest import GatedRunner
from tests.bot.support.fake_discord import (
    DEFAULT_PERMISSIONS,
    FakeUser,
    Recorded,
    SentInteraction,
    final_edit,
)
from tests.bot.support.results_fake import MANAGE_GUILD, ResultsFake

DEFERRED, MESSAGE, EPHEMERAL = 5, 4, 64


async def _settings(
    fake: ResultsFake, sub: str, options: dict[str, Any], user: FakeUser
) -> tuple[str, str]:
    """``/dream-settings sub``: its private answer's text and embed, as strings."""
    sent = await fake.send_subcommand("dream-settings", sub, options, user=user)
    callback = await fake.wait_callback(sent)
    assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL, callback
    return callback.content or "", str(callback.json["data"].get("embeds"))


async def _dream(
    fake: ResultsFake, user: FakeUser, photo: bytes, **options: Any
) -> tuple[SentInteraction, Recorded]:
    attachment = fake.add_attachment(photo, filename="cat.png")
    sent = await fake.send_command("dream", options, user=user, attachments={"image": attachment})
    return sent, await fake.wait_callback(sent)


def _refusal(callback: Recorded) -> str:
    assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL, callback
    return callback.content or ""


async def test_settings_confine_dreams_to_a_channel_and_lower_the_caps(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """/dream obeys the allowed channels and the lowered caps, and says why when it refuses."""
    art = fake.add_channel("art")
    runner = GatedRunner()
    async with start_bot(runner=runner, dream_max_side=96, dream_user_queue_limit=3):
        admin = fake.add_member("admin", permissions=DEFAULT_PERMISSIONS | MANAGE_GUILD)
        alice = fake.add_member("alice")
        text, embed = await _settings(fake, "channel", {"channel": art}, admin)
        assert "Saved" in text and f"<#{art}>" in embed

        sent, callback = await _dream(fake, alice, cat_photo)
        assert f"<#{art}>" in _refusal(callback)
        assert not runner.requests

        await _settings(fake, "channel", {"channel": fake.channel_id}, admin)
        _, embed = await _settings(
            fake,
            "limits",
            {"max_side": 64, "max_steps": 2, "max_octaves": 1, "queue_per_member": 1},
            admin,
        )
        assert "64 px" in embed and "at most 2" in embed
        _, callback = await _dream(fake, alice, cat_photo, steps=5)
        assert "at most 2 steps" in _refusal(callback)
        _, callback = await _dream(fake, alice, cat_photo, octaves=3)
        assert "at most 1 octave" in _refusal(callback)

        sent, callback = await _dream(fake, alice, cat_photo)  # the defaults are lowered quietly
        assert callback.json["type"] == DEFERRED
        await fake.wait_for(final_edit(fake, sent))
        params = runner.requests[0].params
        assert (params.steps, params.octaves, params.max_side) == (2, 1, 64)

        runner.gate.clear()
        sent, callback = await _dream(fake, alice, cat_photo)
        assert callback.json["type"] == DEFERRED
        _, refused = await _dream(fake, alice, cat_photo)
        assert "1 dream in the queue" in _refusal(refused)
        runner.gate.set()
        await fake.wait_for(final_edit(fake, sent))

        text, embed = await _settings(fake, "everywhere", {}, admin)
        assert "every channel" in embed


async def test_a_member_without_manage_server_cannot_change_settings(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """The command is for Manage Server by default, and the bot checks it on every use."""
    async with start_bot(runner=GatedRunner()) as bot:
        (command,) = [c for c in fake.global_commands if c["name"] == "dream-settings"]
        assert int(command["default_member_permissions"]) == MANAGE_GUILD
        alice = fake.add_member("alice")
        sent = await fake.send_subcommand("dream-settings", "limits", {"max_steps": 1}, user=alice)
        callback = await fake.wait_callback(sent)
        assert "manage server" in _refusal(callback)
        sent = await fake.send_subcommand("dream-settings", "show", user=alice)
        assert "manage server" in _refusal(await fake.wait_callback(sent))
        settings = await bot.dreams.server_settings(fake.guild_id)
        assert settings.max_steps is None


async def test_defaults_and_cooldown_apply_and_survive_a_restart(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """The server's default layer and cooldown apply to /dream, and are kept across restarts."""
    admin = fake.add_member("admin", permissions=DEFAULT_PERMISSIONS | MANAGE_GUILD)
    async with start_bot(runner=GatedRunner()):
        _, embed = await _settings(fake, "defaults", {"layer": "fur"}, admin)
        assert "fur" in embed
        text, _ = await _settings(fake, "defaults", {"layer": "nope"}, admin)
        assert "no layer preset 'nope'" in text
        await _settings(fake, "limits", {"cooldown": 60}, admin)
    runner = GatedRunner()
    async with start_bot(runner=runner):
        _, embed = await _settings(fake, "show", {}, admin)
        assert "fur" in embed and "60 s" in embed
        alice = fake.add_member("alice")
        sent, callback = await _dream(fake, alice, cat_photo, steps=1, octaves=1)
        assert callback.json["type"] == DEFERRED
        await fake.wait_for(final_edit(fake, sent))
        assert runner.requests[0].params.layers == ("fur",)
        _, callback = await _dream(fake, alice, cat_photo, layer="eyes")
        assert "give me" in _refusal(callback)
        bob = fake.add_member("bob")
        sent, callback = await _dream(fake, bob, cat_photo, layer="eyes", steps=1, octaves=1)
        await fake.wait_for(final_edit(fake, sent))
        assert runner.requests[1].params.layers == ("eyes",)

        _, embed = await _settings(fake, "reset", {}, admin)
        assert "fur" not in embed and "(bot default)" in embed
