"""What `/dream` and `/dream-zoom` share: the picture's checks and download, the model check, the
seed's bound and draw, and the model and layer autocompletes."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands

from bot.choices import class_choices, layer_choices, model_choices
from bot.errors import AttachmentRejected, OptionRejected
from engine import check_content_type, check_dimensions, imagenet_class, parse_recipe

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.settings import Settings

__all__ = [
    "SEED_MAX",
    "check_attachment",
    "check_model",
    "class_autocomplete",
    "class_of",
    "download",
    "layer_autocomplete",
    "model_autocomplete",
    "recipe",
    "seed_or_drawn",
]

SEED_MAX = 2**31 - 1


def check_attachment(attachment: discord.Attachment) -> None:
    """Refuse from the metadata alone what the engine would refuse (engine `PictureError`s)."""
    check_content_type(attachment.content_type)
    check_dimensions(width=attachment.width, height=attachment.height, size_bytes=attachment.size)


async def download(attachment: discord.Attachment) -> bytes:
    """The attachment's bytes; `AttachmentRejected` if Discord does not give them."""
    try:
        return await attachment.read()
    except discord.HTTPException as error:
        raise AttachmentRejected(
            "I couldn't download that picture from Discord. Please upload it again."
        ) from error


def check_model(settings: Settings, model: str | None) -> str:
    """``model`` (else the bot's default) if the bot dreams with it; `OptionRejected` if not."""
    model = model or settings.default_model
    if model not in settings.dream_models:
        raise OptionRejected(
            f"I don't dream with {model!r} here; choose one of {', '.join(settings.dream_models)}."
        )
    return model


def recipe(model: str, layer: str | None) -> tuple[str, ...]:
    """The layer recipe the member typed (``eyes+animals``, ``blocks.4:12``) in its one written
    form, so the same mix in another order is the same dream; () for the default. The engine's
    `ParamsError` / `UnknownLayer` (with the closest name) say what is wrong."""
    if not layer or not layer.strip():
        return ()
    return parse_recipe(layer, model).terms


def class_of(dream_of: str | None) -> int | None:
    """The ImageNet class (by name or number) to dream of; `UnknownClass` names the closest."""
    if dream_of is None or not dream_of.strip():
        return None
    return imagenet_class(dream_of)


def seed_or_drawn(seed: int | None) -> int:
    """The member's seed, else a drawn one (shown with the result, so a dream can be made
    again)."""
    return random.randint(0, SEED_MAX) if seed is None else seed


def _settings(interaction: discord.Interaction) -> Settings:
    return cast("DreamBot", interaction.client).settings


async def model_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return model_choices(_settings(interaction), current)


async def layer_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    model = getattr(interaction.namespace, "model", None)
    return layer_choices(_settings(interaction), model, current)


async def class_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return class_choices(current)
