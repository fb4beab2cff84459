"""`/dream-zoom`: an infinite zoom into a member's picture. Checks the options and the estimated
time, then hands the zoom to the dreams service, which records and queues it, shows
the frames done and answers with the animation that fits the upload limit (GIF, WebP or MP4) and
the result controls. Discord only; the zoom itself runs in the job backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._options import (
    SEED_MAX,
    check_attachment,
    check_model,
    download,
    layer_autocomplete,
    model_autocomplete,
    recipe,
    seed_or_drawn,
)
from bot.dreams import NO_ZOOMS, check_time
from bot.errors import OptionRejected
from bot.reply import Reply
from engine import DreamParams, ZoomParams, estimate_zoom

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from bot.dreams import Dreams

__all__ = ["Zoom", "setup"]
# steps dreamed on each frame: enough to grow the dream, few enough to keep a zoom affordable
STEPS_PER_FRAME = ZoomParams().steps
FPS = ZoomParams().fps


class Zoom(commands.Cog):
    """Zooms into members' pictures, dreaming as it goes."""

    def __init__(self, bot: DreamBot, dreams: Dreams) -> None:
        self.bot = bot
        self.dreams = dreams
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
        dreams = self.dreams
        if not await dreams.animations_allowed(interaction.guild_id):
            raise OptionRejected(NO_ZOOMS)
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
            prepare=dreams.zoomer(params, settings),
            spoiler=image.is_spoiler(),
        )

    dream_zoom.autocomplete("model")(model_autocomplete)
    dream_zoom.autocomplete("layer")(layer_autocomplete)

    def _params(self, model: str | None, layer: str | None, *, seed: int | None) -> DreamParams:
        model = check_model(self.settings, model)
        return DreamParams(
            model=model,
            layers=recipe(model, layer),
            octaves=1,
            steps=STEPS_PER_FRAME,
            seed=seed_or_drawn(seed),
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
    await bot.add_cog(Zoom(bot, bot.dreams))
