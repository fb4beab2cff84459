"""`/dream` and the "Dream this image" message command: check the picture and the options,
then hand the dream to `bot.dreams` (bot.cogs.results), which queues it and answers."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.animation import planner
from bot.choices import layer_choices, model_choices
from bot.cogs.results import asked_options
from bot.errors import AttachmentRejected, OptionRejected
from bot.reply import Reply
from engine import (
    ACCEPTED_CONTENT_TYPES,
    DreamParams,
    check_content_type,
    check_dimensions,
)

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = ["Dream", "first_picture", "setup"]

SEED_MAX = 2**31 - 1


def first_picture(attachments: list[discord.Attachment]) -> discord.Attachment | None:
    """The first attachment we take, else the first that claims to be a picture, else None."""
    pictures = [a for a in attachments if (a.content_type or "").startswith("image/")]
    accepted = [a for a in pictures if a.content_type in ACCEPTED_CONTENT_TYPES]
    for candidates in (accepted, pictures):
        if candidates:
            return candidates[0]
    return None


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


class Dream(commands.Cog):
    """Dreams members' pictures."""

    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        self.settings = bot.settings
        # context menus cannot be declared in a cog's body
        self.menu = app_commands.ContextMenu(name="Dream this image", callback=self.dream_message)
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="dream")
    @app_commands.describe(
        image="the picture to dream (PNG, JPEG, WebP or GIF)",
        layer="what the network looks for: shallow layers paint strokes, deep ones animals",
        model="the network that dreams",
        strength="how hard each step pushes (1 = classic)",
        steps="steps per octave: more is stronger and slower",
        octaves="picture scales to dream at: more gives larger shapes",
        seed="the same seed dreams the same picture again",
    )
    async def dream(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        layer: str | None = None,
        model: str | None = None,
        strength: app_commands.Range[float, 0.1, 5.0] = 1.0,
        steps: app_commands.Range[int, 1, 50] = 10,
        octaves: app_commands.Range[int, 1, 8] = 4,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
    ) -> None:
        """Dream a picture: the network paints what it sees into it."""
        await self._dream(
            interaction,
            image,
            model=model,
            layer=layer,
            strength=strength,
            steps=steps,
            octaves=octaves,
            seed=seed,
        )

    async def dream_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        attachment = first_picture(message.attachments)
        if attachment is None:
            raise AttachmentRejected(
                "That message has no picture I can dream; I take PNG, JPEG, WebP and GIF."
            )
        await self._dream(interaction, attachment)

    @dream.autocomplete("model")
    async def _model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(self.settings, current)

    @dream.autocomplete("layer")
    async def _layer_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        model = getattr(interaction.namespace, "model", None)
        return layer_choices(self.settings, model, current)

    async def _dream(
        self,
        interaction: discord.Interaction,
        attachment: discord.Attachment,
        *,
        model: str | None = None,
        layer: str | None = None,
        strength: float = 1.0,
        steps: int = 10,
        octaves: int = 4,
        seed: int | None = None,
    ) -> None:
        self.bot.track_current_task()
        reply = Reply(interaction)
        interaction.extras["reply"] = reply

        # refusals before deferring stay ephemeral
        check_attachment(attachment)
        dreams = self.bot.dreams
        rules = await dreams.rules(interaction)  # this server's /dream-settings
        params = self._params(
            model or rules.model, layer, strength=strength, steps=steps, octaves=octaves, seed=seed
        )
        params = rules.fit(rules.with_default_layer(params), asked=asked_options(interaction))
        await dreams.run(
            interaction,
            reply,
            rules=rules,
            params=params,
            picture=lambda: download(attachment),
            # an animated picture: every frame is dreamed (bot/animation.py)
            prepare=planner(self.bot, interaction.guild_id, params),
        )

    def _params(
        self,
        model: str | None,
        layer: str | None,
        *,
        strength: float,
        steps: int,
        octaves: int,
        seed: int | None,
    ) -> DreamParams:
        model = model or self.settings.default_model
        if model not in self.settings.dream_models:
            raise OptionRejected(
                f"I don't dream with {model!r} here; choose one of "
                f"{', '.join(self.settings.dream_models)}."
            )
        return DreamParams(
            model=model,
            layers=(layer.strip(),) if layer and layer.strip() else (),
            strength=strength,
            steps=steps,
            octaves=octaves,
            # a drawn seed is shown with the result, so a dream can be made again
            seed=random.randint(0, SEED_MAX) if seed is None else seed,
            max_side=self.settings.dream_max_side,
        )


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Dream(bot))
