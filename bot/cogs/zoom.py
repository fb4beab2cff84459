"""`/dream-zoom`: an infinite zoom into a member's picture. Checks the options and the estimated
time, then hands the zoom to `bot.dreams` (bot.cogs.results), which records and queues it, shows
the frames done and answers with the animation that fits the upload limit (GIF, WebP or MP4) and
the result controls. Discord only; the zoom itself runs in the job backend."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.animation import NO_ZOOMS, animations_allowed, check_time, zoomer
from bot.choices import layer_choices, model_choices
from bot.cogs.dream import check_attachment, download
from bot.errors import OptionRejected
from bot.reply import Reply
from engine import DreamParams, ZoomParams, estimate_zoom

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = ["Zoom", "setup"]

SEED_MAX = 2**31 - 1
# steps dreamed on each frame: enough to grow the dream, few enough to keep a zoom affordable
STEPS_PER_FRAME = ZoomParams().steps
FPS = ZoomParams().fps


class Zoom(commands.Cog):
    """Zooms into members' pictures, dreaming as it goes."""

    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        self.settings = bot.settings

    @app_commands.command(name="dream-zoom")
    @app_commands.describe(
        image="the picture to zoom into (PNG, JPEG, WebP or GIF; an animation's first frame)",
        frames="frames in the animation: each one zooms further in",
        zoom="how much each frame zooms in, in percent",
        rotate="degrees each frame turns (anticlockwise; below 0 clockwise)",
        layer="what the network looks for: shallow layers paint strokes, deep ones animals",
        model="the network that dreams",
        seed="the same seed dreams the same zoom again",
    )
    async def dream_zoom(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        frames: app_commands.Range[int, 2, 500] | None = None,
        zoom: app_commands.Range[float, 1.0, 25.0] = 5.0,
        layer: str | None = None,
        model: str | None = None,
        rotate: app_commands.Range[float, -20.0, 20.0] = 0.0,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
    ) -> None:
        """Zoom into a picture forever: every frame is dreamed a little further."""
        self.bot.track_current_task()
        reply = Reply(interaction)
        interaction.extras["reply"] = reply

        # refusals before deferring stay ephemeral
        check_attachment(image)
        if not await animations_allowed(self.bot, interaction.guild_id):
            raise OptionRejected(NO_ZOOMS)
        dreams = self.bot.dreams
        rules = await dreams.rules(interaction)  # this server's /dream-settings
        params = self._params(model or rules.model, layer, seed=seed)
        params = rules.fit(rules.with_default_layer(params))
        settings = self._zoom(params, frames=frames, zoom=zoom, rotate=rotate)
        size = (image.width or 1, image.height or 1)
        check_time(estimate_zoom(size, params, settings), params, self.settings, what="This zoom")
        await dreams.run(
            interaction,
            reply,
            rules=rules,
            params=params,
            picture=lambda: download(image),
            prepare=zoomer(self.settings, params, settings),
        )

    @dream_zoom.autocomplete("model")
    async def _model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(self.settings, current)

    @dream_zoom.autocomplete("layer")
    async def _layer_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        model = getattr(interaction.namespace, "model", None)
        return layer_choices(self.settings, model, current)

    def _params(self, model: str | None, layer: str | None, *, seed: int | None) -> DreamParams:
        model = model or self.settings.default_model
        if model not in self.settings.dream_models:
            raise OptionRejected(
                f"I don't dream with {model!r} here; choose one of "
                f"{', '.join(self.settings.dream_models)}."
            )
        return DreamParams(
            model=model,
            layers=(layer.strip(),) if layer and layer.strip() else (),
            octaves=1,
            steps=STEPS_PER_FRAME,
            # a drawn seed is shown with the result, so a zoom can be made again
            seed=random.randint(0, SEED_MAX) if seed is None else seed,
            max_side=min(self.settings.dream_max_side, self.settings.dream_animation_max_side),
        )

    def _zoom(
        self,
        params: DreamParams,
        *,
        frames: int | None,
        zoom: float,
        rotate: float,
    ) -> ZoomParams:
        limit = self.settings.dream_max_frames
        if frames is not None and frames > limit:
            raise OptionRejected(f"I make at most {limit} frames here; ask for fewer.")
        return ZoomParams(
            frames=frames or min(limit, ZoomParams().frames),
            zoom=zoom / 100,
            rotate=rotate,
            # a server's step cap applies to each frame's steps too
            steps=min(STEPS_PER_FRAME, params.steps),
            fps=FPS,
        )


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Zoom(bot))
