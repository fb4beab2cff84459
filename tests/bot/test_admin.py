"""Tests for bot/cogs/admin.py without Discord: the settings embed."""

from __future__ import annotations

from bot.cogs.admin import settings_embed
from bot.cogs.results import Rules
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
    everywhere = settings_embed("x", ServerSettings(), Rules.merge(bot, ServerSettings()))
    assert {f.name: f.value for f in everywhere.fields}["Channels"] == "every channel"
