"""End to end: the real DreamBot syncs its commands to the fake Discord only when they changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.bot.support.fake_discord import FakeDiscord

ATTACHMENT, STRING, INTEGER, NUMBER = 11, 3, 4, 10


def _puts(fake: FakeDiscord) -> list[Any]:
    return fake.find(lambda r: r.method == "PUT" and r.route.endswith("/commands"))


async def test_sync_payload_names_dream_layers_and_the_context_menu(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """The first start syncs /dream (options typed and bounded), /layers and the message menu."""
    async with start_bot(runner=None):
        puts = _puts(fake)
        assert len(puts) == 1 and puts[0].status == 200
        assert puts[0].route == f"/applications/{fake.application_id}/commands"
        commands = {(c["name"], c.get("type", 1)): c for c in puts[0].json}
        assert set(commands) == {
            ("dream", 1),
            ("layers", 1),
            ("Dream this image", 3),
            ("dream-settings", 1),
            ("dream-queue", 1),
            ("dream-history", 1),
            ("dream-zoom", 1),
        }
        dream = commands["dream", 1]
        assert dream["description"]
        options = {o["name"]: o for o in dream["options"]}
        assert list(options) == [
            "image",
            "layer",
            "model",
            "strength",
            "steps",
            "octaves",
            "seed",
            "dream_of",
            "guide",
            "smooth",
        ]
        assert options["guide"]["type"] == ATTACHMENT
        assert options["dream_of"].get("autocomplete")
        assert options["image"]["type"] == ATTACHMENT and options["image"]["required"]
        assert not any(o.get("required") for name, o in options.items() if name != "image")
        assert options["layer"]["type"] == STRING
        assert options["layer"].get("choices") or options["layer"].get("autocomplete")
        for name, kind in (("steps", INTEGER), ("octaves", INTEGER), ("strength", NUMBER)):
            assert options[name]["type"] == kind
            assert 0 < options[name]["min_value"] < options[name]["max_value"], name
        assert all(o.get("description") for o in options.values())
        assert commands["layers", 1]["description"]
        assert commands["Dream this image", 3].get("description", "") == ""


def _texts(command: dict[str, Any]) -> list[tuple[str, str]]:
    found = [("description", command.get("description") or "")]
    for option in command.get("options") or []:
        found.append(("option name", option["name"]))
        found.append(("description", option.get("description") or ""))
        for choice in option.get("choices") or []:
            found.append(("choice", choice["name"]))
        found.extend(_texts(option))
    return found


async def test_every_synced_text_fits_discords_limits(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """Descriptions and choice names at most 100 characters, option names 32, at most 25 options
    and choices: what Discord accepts, checked on what was sent (discord.py may not cut)."""
    async with start_bot(runner=None):
        for command in _puts(fake)[0].json:
            assert len(command.get("options") or []) <= 25, command["name"]
            for kind, text in _texts(command):
                limit = 32 if kind == "option name" else 100
                assert len(text) <= limit, (command["name"], kind, text)


async def test_restart_with_the_same_data_dir_does_not_sync_again(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """A second start with unchanged commands and the same data dir sends no command sync."""
    async with start_bot(runner=None):
        pass
    async with start_bot(runner=None):
        identifies = [f for f in fake.frames if not f.sent and f.op == 2]
        assert len(identifies) == 2
        assert len(_puts(fake)) == 1


async def test_dev_guild_syncs_to_that_guild_only(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """With DREAM_DEV_GUILD the commands go to that guild, and interactions still reach them."""
    async with start_bot(runner=None, dream_dev_guild=fake.guild_id):
        puts = _puts(fake)
        assert [p.route for p in puts] == [
            f"/applications/{fake.application_id}/guilds/{fake.guild_id}/commands"
        ]
        assert {c["name"] for c in fake.guild_commands[fake.guild_id]} >= {"dream", "layers"}
        user = fake.add_member("gwen")
        sent = await fake.send_command("layers", user=user)
        callback = await fake.wait_callback(sent)
        assert callback.status == 200 and callback.flags == 64
