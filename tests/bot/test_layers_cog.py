"""Tests for bot/cogs/layers.py: /layers explains every preset of every offered model."""

from __future__ import annotations

from bot.cogs.layers import layers_embed
from engine import available_models, presets


def test_every_preset_of_every_model_has_a_line() -> None:
    """One field per model (the first marked default), one line per preset with its description."""
    models = available_models()
    embed = layers_embed(models)
    assert len(embed.fields) == len(models)
    assert "default model" in str(embed.fields[0].name)
    for field, model in zip(embed.fields, models, strict=True):
        assert str(field.name).startswith(model)
        assert field.value is not None and len(field.value) <= 1024
        for preset in presets(model):
            assert f"`{preset.name}`" in field.value and preset.description in field.value
    assert len(embed) <= 6000
