"""Tests for bot/cogs/admin.py without Discord: the settings embed."""

from __future__ import annotations

from bot.cogs.admin import settings_embed
from bot.dreams import Rules
from bot.settings import Settings
from bot.storage import ServerSettings


def test_the_embed_marks_what_the_server_did_not_choose() -> None:
    """Every rule is shown; those the server left to the bot say "(bot default)"."""
    bot = Settings(_env_file=None, discord_token="t", dream_max_side=512)  # type: ignore[call-arg]
    server = ServerSettings(allowed_channels=(5,), max_steps=4, default_layer="fur")
    embed = settings_embed("Dream Lab", server, Rules.merge(bot, server))
    fields = {field.name: field.value for field in embed.fields}
    assert embed.title == "How I dream on Dream Lab"
    assert fields["Channels"] == "<#5>"
    assert fields["Steps per octave"] == "at most 4"
    assert fields["Largest side"] == "512 px (bot default)"
    assert fields["Default layer"] == "fur"
    assert fields["Animations"].startswith("on") and fields["Animations"].endswith("(bot default)")
    everywhere = settings_embed("x", ServerSettings(), Rules.merge(bot, ServerSettings()))
    assert {f.name: f.value for f in everywhere.fields}["Channels"] == "every channel"


def test_the_embed_says_where_animations_are_off() -> None:
    """Animations show as off when the server turned them off, or the whole bot did."""
    bot = Settings(_env_file=None, discord_token="t")  # type: ignore[call-arg]
    server = ServerSettings(allow_animations=False)
    fields = {f.name: f.value for f in settings_embed("x", server, Rules.merge(bot, server)).fields}
    assert fields["Animations"].startswith("off: /dream dreams the first frame only")
    no_bot = Settings(_env_file=None, discord_token="t", dream_animations=False)  # type: ignore[call-arg]
    embed = settings_embed("x", ServerSettings(), Rules.merge(no_bot, ServerSettings()))
    assert "DREAM_ANIMATIONS" in {f.name: f.value for f in embed.fields}["Animations"]
