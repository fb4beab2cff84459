"""`/dream` and the "Dream this image" message command: check the picture and the options,
then hand the dream to the dreams service, which queues it and answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._message_pictures import NO_PICTURE, MessagePicture, find_picture
from bot.cogs._options import (
    SEED_MAX,
    check_attachment,
    check_model,
    class_autocomplete,
    class_of,
    download,
    layer_autocomplete,
    model_autocomplete,
    recipe,
    seed_or_drawn,
)
from bot.dreams import MAX_OCTAVES, MAX_STEPS, asked_options
from bot.errors import AttachmentRejected
from bot.reply import Reply
from engine import DreamParams
from engine.params import SMOOTH_DEFAULT

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.dreams import Dreams

__all__ = ["Dream", "check_attachment", "setup"]


class Dream(commands.Cog):
    """Dreams members' pictures."""

    def __init__(self, bot: DreamBot, dreams: Dreams) -> None:
        self.bot = bot
        self.dreams = dreams
        self.settings = bot.settings
        # context menus cannot be declared in a cog's body
        self.menu = app_commands.ContextMenu(name="Dream this image", callback=self.dream_message)
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="dream")
    @app_commands.describe(
        image="the picture to dream (PNG, JPEG, WebP or GIF)",
        layer=(
            "what the network looks for; mix up to 4 with + (eyes+animals), one channel as layer:N"
        ),
        model="the network that dreams",
        strength="how hard each step pushes (1 = classic)",
        steps="steps per octave: more is stronger and slower",
        octaves="picture scales to dream at: more gives larger shapes",
        seed="the same seed dreams the same picture again",
        dream_of="an ImageNet class to dream of (a name or its number), with or without layers",
        guide="a second picture: the dream grows towards what the network sees in it",
        smooth="smoother dreams: large shapes grow as fast as fine grain (Laplacian normalisation)",
    )
    async def dream(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        layer: str | None = None,
        model: str | None = None,
        strength: app_commands.Range[float, 0.1, 5.0] = 1.0,
        steps: app_commands.Range[int, 1, MAX_STEPS] = 10,
        octaves: app_commands.Range[int, 1, MAX_OCTAVES] = 4,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        dream_of: str | None = None,
        guide: discord.Attachment | None = None,
        smooth: bool | None = None,
    ) -> None:
        """Dream a picture: the network paints what it sees into it."""
        await self._dream(
            interaction,
            MessagePicture(attachment=image),
            model=model,
            layer=layer,
            strength=strength,
            steps=steps,
            octaves=octaves,
            seed=seed,
            dream_of=dream_of,
            guide=guide,
            smooth=smooth,
        )

    async def dream_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        picture = find_picture(message)
        if picture is None:
            raise AttachmentRejected(NO_PICTURE)
        await self._dream(interaction, picture)

    dream.autocomplete("model")(model_autocomplete)
    dream.autocomplete("layer")(layer_autocomplete)
    dream.autocomplete("dream_of")(class_autocomplete)

    async def _dream(
        self,
        interaction: discord.Interaction,
        picture: MessagePicture,
        *,
        model: str | None = None,
        layer: str | None = None,
        strength: float = 1.0,
        steps: int = 10,
        octaves: int = 4,
        seed: int | None = None,
        dream_of: str | None = None,
        guide: discord.Attachment | None = None,
        smooth: bool | None = None,
    ) -> None:
        self.bot.track_current_task()
        reply = Reply(interaction)
        interaction.extras["reply"] = reply

        # refusals before deferring stay ephemeral
        picture.check()
        if guide is not None:
            check_attachment(guide)
        dreams = self.dreams
        rules = await dreams.rules(interaction)  # this server's /dream-settings
        rules.check_controls(guide=guide is not None, dream_of=bool(dream_of))
        params = self._params(
            model or rules.model,
            layer,
            strength=strength,
            steps=steps,
            octaves=octaves,
            seed=seed,
            dream_of=dream_of,
            smooth=smooth,
        )
        guided = guide is not None
        params = rules.with_default_layer(params)
        params = rules.fit(params, asked=asked_options(interaction), guided=guided)
        await dreams.run(
            interaction,
            reply,
            rules=rules,
            params=params,
            picture=picture.read,
            guide=(lambda: download(guide)) if guide is not None else None,
            # an animated picture: every frame is dreamed
            prepare=dreams.planner(interaction.guild_id, params, guided=guided),
            spoiler=picture.spoiler,
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
        dream_of: str | None,
        smooth: bool | None,
    ) -> DreamParams:
        model = check_model(self.settings, model)
        return DreamParams(
            model=model,
            layers=recipe(model, layer),
            strength=strength,
            steps=steps,
            octaves=octaves,
            seed=seed_or_drawn(seed),
            max_side=self.settings.dream_max_side,
            dream_of=class_of(dream_of),
            smooth=SMOOTH_DEFAULT if smooth is None else smooth,
        )


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Dream(bot, bot.dreams))
