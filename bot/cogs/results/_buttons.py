"""The controls under every result, as restart-safe `DynamicItem`s: their ``custom_id`` carries
the dream's id, so any message's buttons work (on a card or an older plain message) for as long
as the dream is stored; and `result_view`, the card they sit on."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

from bot.choices import clip
from bot.cogs.results._card import Card, result_card
from bot.cogs.results._clicks import another_layer, deeper, delete, info
from bot.storage import DreamRecord
from engine import default_preset, presets

if TYPE_CHECKING:
    from bot.dreams._service import Finished

__all__ = [
    "DYNAMIC_ITEMS",
    "DeeperButton",
    "DeleteButton",
    "InfoButton",
    "LayerSelect",
    "result_controls",
    "result_view",
]

_ID = r"(?P<id>[0-9a-f]{32})"
# presets the Another layer menu mixes at most
MIX = 3


def layer_options(record: DreamRecord) -> list[discord.SelectOption]:
    """The model's presets (at most 25, Discord's limit), the ones this dream used marked."""
    model = record.params.model
    current = set(record.params.layers) or {default_preset(model).name}
    return [
        discord.SelectOption(
            label=preset.name,
            value=preset.name,
            description=clip(preset.description),
            emoji="✅" if preset.name in current else None,
        )
        for preset in presets(model)[:25]
    ]


class DeeperButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"dream:deeper:{_ID}"):
    """Dream the result again with the same settings: a picture or every frame of an animation;
    a zoom goes on zooming from its last frame. An MP4 result cannot be read back (it says so)."""

    def __init__(self, dream_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Dream deeper",
                emoji="🌀",
                style=discord.ButtonStyle.primary,
                custom_id=f"dream:deeper:{dream_id}",
            )
        )
        self.dream_id = dream_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DeeperButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await deeper(interaction, self.dream_id)


class InfoButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"dream:info:{_ID}"):
    """How the dream was made, for the member who clicks."""

    def __init__(self, dream_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Info",
                emoji="ℹ️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"dream:info:{dream_id}",
            )
        )
        self.dream_id = dream_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> InfoButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await info(interaction, self.dream_id)


class DeleteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"dream:delete:{_ID}"):
    """Delete the result (its member, or someone who may manage messages)."""

    def __init__(self, dream_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Delete",
                emoji="🗑️",
                style=discord.ButtonStyle.danger,
                custom_id=f"dream:delete:{dream_id}",
            )
        )
        self.dream_id = dream_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DeleteButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await delete(interaction, self.dream_id)


class LayerSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=rf"dream:layer:{_ID}"):
    """Dream the original picture again with other presets of the model, up to `MIX` mixed (a
    zoom: zoom into it again, with the same zoom settings)."""

    def __init__(self, dream_id: str, *, options: list[discord.SelectOption]) -> None:
        super().__init__(
            discord.ui.Select(
                placeholder=f"Another layer… (pick up to {MIX} to mix them)",
                options=options,
                min_values=1,
                max_values=max(1, min(MIX, len(options))),
                custom_id=f"dream:layer:{dream_id}",
            )
        )
        self.dream_id = dream_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> LayerSelect:
        # the options come from the message: nothing is looked up before the callback
        options = item.options if isinstance(item, discord.ui.Select) else []
        return cls(match["id"], options=options)

    async def callback(self, interaction: discord.Interaction) -> None:
        await another_layer(interaction, self.dream_id, "+".join(self.item.values))


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    DeeperButton,
    InfoButton,
    DeleteButton,
    LayerSelect,
)


def result_controls(record: DreamRecord) -> list[discord.ui.ActionRow[Any]]:
    """The controls of a result: Dream deeper, Info and Delete, then the Another layer menu."""
    return [
        discord.ui.ActionRow(
            DeeperButton(record.id), InfoButton(record.id), DeleteButton(record.id)
        ),
        discord.ui.ActionRow(LayerSelect(record.id, options=layer_options(record))),
    ]


async def result_view(finished: Finished) -> Card:
    """The card of a finished dream, with the controls of its record (none without one)."""
    record = finished.record
    return await result_card(finished, controls=result_controls(record) if record else [])
