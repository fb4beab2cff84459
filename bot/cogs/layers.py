"""`/layers [model]`: what each layer preset paints, in one line each and in a picture (every
preset of the model dreamed on one sample photo, labelled), privately; a button under it lists
the model's raw layer names, page by page.

The picture (a layer sheet, engine/sheet.py) of a model is shipped in bot/assets/ (the bundled
model's), else cached under ``DREAM_DATA_DIR/layer-sheets/``, else made in the background the
first time it is asked for: one ordinary job per preset through the bot's job backend (so the
engine runs where dreams run), then laid out in a thread. Its name carries the engine's
`sheet_version`, so a changed preset table makes a new one."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs._options import check_model, model_autocomplete
from bot.errors import ShuttingDown
from bot.jobs import JobBackend, JobRequest
from engine import (
    MODEL_DESCRIPTIONS,
    default_preset,
    layer_channels,
    layer_names,
    layer_sheet,
    presets,
    sheet_params,
    sheet_stem,
)

if TYPE_CHECKING:
    from bot.bot import DreamBot

__all__ = [
    "ASSETS",
    "CACHE_FOLDER",
    "PAGE_LINES",
    "SAMPLE_PHOTO",
    "SHEET_USER",
    "LayerSheets",
    "Layers",
    "PageButton",
    "RawNamesButton",
    "Sheet",
    "layers_embed",
    "raw_pages",
    "setup",
]

log = logging.getLogger(__name__)

_FIELD_LIMIT = 1024  # characters in one embed field
_MESSAGE_LIMIT = 2000  # characters in one message

ASSETS = Path(__file__).resolve().parents[1] / "assets"
# the photo every sheet is dreamed on (bench/layer_sheet.py made it from tests/data/astronaut.png)
SAMPLE_PHOTO = ASSETS / "sheet-photo.jpg"
CACHE_FOLDER = "layer-sheets"
# the member the sheets' jobs are queued for: nobody, so the fair queue takes them in turn
SHEET_USER = 0
# raw layer names on one page of the list
PAGE_LINES = 15

_MODEL = r"(?P<model>[A-Za-z0-9_.-]{1,60})"


def layers_embed(models: tuple[str, ...], *, default: str | None = None) -> discord.Embed:
    """One field per model: its presets, shallow to deep, one line each; the default preset
    marked, and the default model (``default``, else the first) too."""
    default_model = default or (models[0] if models else None)
    embed = discord.Embed(
        title="Layers to dream with",
        description=(
            "Pick one with `/dream layer:`. Shallow layers paint strokes and textures; "
            "deep layers paint eyes, animals and objects."
        ),
    )
    for model in models[:25]:
        preset = default_preset(model).name
        lines = [
            f"`{p.name}`{' (default)' if p.name == preset else ''} — {p.description}"
            for p in presets(model)
        ]
        text = "\n".join(lines)
        if len(text) > _FIELD_LIMIT:
            text = text[: _FIELD_LIMIT - 1] + "…"
        title = f"{model}{' (default model)' if model == default_model else ''}"
        description = MODEL_DESCRIPTIONS.get(model)
        if description:
            title = f"{title} — {description}"
        embed.add_field(name=title[:256], value=text, inline=False)
    return embed


def raw_pages(model: str) -> list[str]:
    """The model's raw layer names, shallow to deep, with their channel counts and the presets
    that dream them, as messages of at most `PAGE_LINES` layers (each under 2000 characters).
    Builds the network without weights (it downloads nothing), so call it off the event loop."""
    names = layer_names(model)
    channels = layer_channels(model)
    used: dict[str, list[str]] = {}
    for preset in presets(model):
        for layer in preset.layers:
            used.setdefault(layer, []).append(preset.name)
    width = max(len(name) for name in names)
    lines = []
    for name in names:
        unit = "classes" if name == "logits" else "channels"
        line = f"{name:<{width}}  {channels[name]:>5} {unit}"
        if name in used:
            line += f"  ({', '.join(used[name])})"
        lines.append(line)
    example = default_preset(model).layers[0]
    chunks = [lines[i : i + PAGE_LINES] for i in range(0, len(lines), PAGE_LINES)]
    pages = []
    for number, chunk in enumerate(chunks, 1):
        header = (
            f"**Raw layers of {model}**, shallow to deep (page {number} of {len(chunks)}). "
            f"Dream one with `/dream layer:{example}`, one channel with `{example}:0`, "
            "a mix with `+`."
        )
        body = "\n".join(chunk)
        pages.append(f"{header}\n```\n{body}\n```"[:_MESSAGE_LIMIT])
    return pages


@dataclass(frozen=True)
class Sheet:
    """A model's layer sheet, encoded."""

    data: bytes
    filename: str


class LayerSheets:
    """Finds each model's layer sheet (shipped, else cached) and makes missing ones in the
    background, one build per model at a time; a failed build is logged and tried again the
    next time the sheet is asked for."""

    def __init__(
        self,
        jobs: JobBackend,
        data_dir: Path,
        *,
        assets: Path = ASSETS,
        photo: Path = SAMPLE_PHOTO,
    ) -> None:
        self._jobs = jobs
        self._folders = (assets, data_dir / CACHE_FOLDER)
        self._cache = data_dir / CACHE_FOLDER
        self._photo = photo
        self._sheets: dict[str, Sheet] = {}
        self._builds: dict[str, asyncio.Task[Sheet]] = {}

    async def find(self, model: str) -> Sheet | None:
        """The model's current sheet if one is shipped or cached (read off the event loop)."""
        stem = sheet_stem(model)
        sheet = self._sheets.get(stem)
        if sheet is None:
            sheet = await asyncio.to_thread(self._read, stem)
            if sheet is not None:
                self._sheets[stem] = sheet
        return sheet

    def build(self, model: str) -> asyncio.Task[Sheet]:
        """The running build of the model's sheet, started if none runs."""
        task = self._builds.get(model)
        if task is None or task.done():
            task = asyncio.create_task(self._build(model), name=f"layer sheet of {model}")
            task.add_done_callback(self._retrieved)
            self._builds[model] = task
        return task

    def building(self, model: str) -> asyncio.Task[Sheet] | None:
        """The model's build while it runs."""
        task = self._builds.get(model)
        return task if task is not None and not task.done() else None

    async def close(self) -> None:
        """Stop the builds (their queued or running jobs are cancelled)."""
        tasks = [task for task in self._builds.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _read(self, stem: str) -> Sheet | None:
        for folder in self._folders:
            for path in sorted(folder.glob(f"{stem}.*")):
                if not path.name.endswith(".tmp"):
                    return Sheet(path.read_bytes(), path.name)
        return None

    async def _build(self, model: str) -> Sheet:
        try:
            return await self._make(model)
        except ShuttingDown:
            log.info("The layer sheet of %s was not finished before the bot stopped", model)
            raise
        except Exception as error:
            log.warning(
                "Could not make the layer sheet of %s (tried again on the next /layers): %s",
                model,
                error,
                exc_info=error,
            )
            raise

    async def _make(self, model: str) -> Sheet:
        photo = await asyncio.to_thread(self._photo.read_bytes)
        dreams: list[tuple[str, bytes]] = []
        # one job at a time: the sheet waits its turn with the members' dreams, never before them
        for preset in presets(model):
            request = JobRequest(
                user_id=SHEET_USER, picture=photo, params=sheet_params(model, preset.name)
            )
            job = await self._jobs.submit(request)
            try:
                result = await job.result()
            except asyncio.CancelledError:
                job.cancel()
                raise
            dreams.append((preset.name, result.picture.data))
        sheet = await asyncio.to_thread(self._compose, model, photo, dreams)
        self._sheets[sheet_stem(model)] = sheet
        log.info("Made the layer sheet of %s (%d bytes)", model, len(sheet.data))
        return sheet

    def _compose(self, model: str, photo: bytes, dreams: list[tuple[str, bytes]]) -> Sheet:
        encoded = layer_sheet(photo, dreams, stem=sheet_stem(model))
        self._cache.mkdir(parents=True, exist_ok=True)
        temporary = self._cache / f"{encoded.filename}.tmp"
        temporary.write_bytes(encoded.data)
        os.replace(temporary, self._cache / encoded.filename)
        return Sheet(encoded.data, encoded.filename)

    @staticmethod
    def _retrieved(task: asyncio.Task[Sheet]) -> None:
        # _build logged the failure; nobody need await a build
        if not task.cancelled():
            task.exception()


def raw_names_view(model: str) -> discord.ui.View:
    """The button under a /layers answer that lists the model's raw layer names."""
    view = discord.ui.View(timeout=None)
    view.add_item(RawNamesButton(model))
    return view


def pages_view(model: str, page: int, count: int) -> discord.ui.View | None:
    """Previous and Next under page ``page`` (from 0) of ``count``; None for a single page."""
    if count <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(model, max(page - 1, 0), label="Previous", disabled=page == 0))
    view.add_item(
        PageButton(model, min(page + 1, count - 1), label="Next", disabled=page >= count - 1)
    )
    return view


def _offered(interaction: discord.Interaction, model: str) -> bool:
    bot: DreamBot = interaction.client  # type: ignore[assignment]
    return model in bot.settings.dream_models


async def _not_offered(interaction: discord.Interaction, model: str) -> None:
    await interaction.response.send_message(
        f"I don't dream with {model!r} here any more; see `/layers`.", ephemeral=True
    )


class RawNamesButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"layers:raw:{_MODEL}"
):
    """Sends the model's raw layer names, privately, one page and Previous/Next."""

    def __init__(self, model: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Raw layer names",
                emoji="🔬",
                style=discord.ButtonStyle.secondary,
                custom_id=f"layers:raw:{model}",
            )
        )
        self.model = model

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RawNamesButton:
        return cls(match["model"])

    async def callback(self, interaction: discord.Interaction) -> None:
        if not _offered(interaction, self.model):
            await _not_offered(interaction, self.model)
            return
        pages = await asyncio.to_thread(raw_pages, self.model)
        view = pages_view(self.model, 0, len(pages))
        if view is None:
            await interaction.response.send_message(pages[0], ephemeral=True)
        else:
            await interaction.response.send_message(pages[0], view=view, ephemeral=True)


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"layers:page:{_MODEL}:(?P<page>[0-9]{{1,4}})",
):
    """Shows another page of the raw layer names, in place."""

    def __init__(
        self, model: str, page: int, *, label: str = "Page", disabled: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"layers:page:{model}:{page}",
                disabled=disabled,
            )
        )
        self.model = model
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        return cls(match["model"], int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        if not _offered(interaction, self.model):
            await _not_offered(interaction, self.model)
            return
        pages = await asyncio.to_thread(raw_pages, self.model)
        page = min(self.page, len(pages) - 1)
        await interaction.response.edit_message(
            content=pages[page], view=pages_view(self.model, page, len(pages))
        )


class Layers(commands.Cog):
    """Explains the layer presets, in words and in a picture."""

    def __init__(self, bot: DreamBot) -> None:
        self.bot = bot
        self.sheets = LayerSheets(bot.jobs, bot.settings.dream_data_dir)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(RawNamesButton, PageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(RawNamesButton, PageButton)
        await self.sheets.close()

    @app_commands.command(name="layers")
    @app_commands.describe(model="the network whose presets to show (default: all of them)")
    @app_commands.autocomplete(model=model_autocomplete)
    async def layers(self, interaction: discord.Interaction, model: str | None = None) -> None:
        """What each layer preset paints, in words and in a picture."""
        settings = self.bot.settings
        chosen = check_model(settings, model)
        shown = settings.dream_models if model is None else (chosen,)
        embed = layers_embed(shown, default=settings.default_model)
        view = raw_names_view(chosen)
        sheet = await self.sheets.find(chosen)
        if sheet is None:
            self.sheets.build(chosen)
            await interaction.response.send_message(
                f"🎨 A picture of every {chosen} preset, dreamed on one photo, is being made; "
                "ask `/layers` again in a minute or two to see it.",
                embed=embed,
                view=view,
                ephemeral=True,
            )
            return
        embed.set_image(url=f"attachment://{sheet.filename}")
        embed.set_footer(text=f"The picture: every {chosen} preset, dreamed on the same photo.")
        await interaction.response.send_message(
            embed=embed,
            file=discord.File(io.BytesIO(sheet.data), filename=sheet.filename),
            view=view,
            ephemeral=True,
        )


async def setup(bot: DreamBot) -> None:
    await bot.add_cog(Layers(bot))
