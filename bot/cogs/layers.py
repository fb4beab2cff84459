"""`/layers`: what each model's layer presets paint, in one line each (ephemeral)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from engine import MODEL_DESCRIPTIONS, default_preset, presets

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = ["Layers", "layers_embed", "setup"]

_FIELD_LIMIT = 1024  # characters in one embed field


def layers_embed(models: tuple[str, ...]) -> discord.Embed:
    """One field per model: its presets, shallow to deep, one line each; the default marked."""
    embed = discord.Embed(
        title="Layers to dream with",
        description=(
            "Pick one with `/dream layer:`. Shallow layers paint strokes and textures; "
            "deep layers paint eyes, animals and objects."
        ),
    )
    for index, model in enumerate(models[:25]):
        default = default_preset(model).name
        lines = [
            f"`{p.name}`{' (default)' if p.name == default else ''} — {p.description}"
            for p in presets(model)
        ]
        text = "\n".join(lines)
        if len(text) > _FIELD_LIMIT:
            text = text[: _FIELD_LIMIT - 1] + "…"
        title = f"{model}{' (default model)' if index == 0 else ''}"
        description = MODEL_DESCRIPTIONS.get(model)
        if description:
            title = f"{title} — {description}"
        embed.add_field(name=title[:256], value=text, inline=False)
    return embed


class Layers(commands.Cog):
    """Explains the layer presets."""

    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot

    @app_commands.command(name="layers")
    async def layers(self, interaction: discord.Interaction) -> None:
        """What each layer preset paints, for every model."""
        embed = layers_embed(self.bot.settings.dream_models)
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Layers(bot))
