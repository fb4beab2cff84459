"""The card a finished dream is shown as (components V2): the picture with its recipe as alt
text, the result line, who asked and when, the member's picture small beside it, the controls."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import discord
from PIL import Image

from bot.choices import clip
from engine import DreamError, decode

if TYPE_CHECKING:
    from bot.dreams._service import Finished

__all__ = [
    "ALT_TEXT_LIMIT",
    "LINE_LIMIT",
    "ORIGINAL_ALT_TEXT",
    "TEXT_LIMIT",
    "THUMBNAIL_SIDE",
    "Card",
    "result_card",
    "thumbnail",
]

log = logging.getLogger(__name__)

# Discord's limits on a components V2 message
ALT_TEXT_LIMIT = 1024  # a media gallery item's or a thumbnail's description
TEXT_LIMIT = 4000  # every text display of one message together
# the result line's share of TEXT_LIMIT; the other line is short
LINE_LIMIT = 2000
THUMBNAIL_SIDE = 160  # px: the longest side of the member's picture beside the result
ORIGINAL_ALT_TEXT = "The picture it was dreamed from"
_ORIGINAL = "original.jpg"
_SPOILER = "SPOILER_"


class Card(NamedTuple):
    """A result's layout, and the pictures (bytes, filename) it shows as attachment://filename."""

    layout: discord.ui.LayoutView
    pictures: tuple[tuple[bytes, str], ...]


def thumbnail(data: bytes) -> bytes | None:
    """The first frame of ``data`` at most `THUMBNAIL_SIDE` px, as JPEG (see-through parts on
    white); None when it cannot be read."""
    try:
        picture = decode(data, max_side=THUMBNAIL_SIDE)
    except DreamError as error:
        log.info("No thumbnail of the original picture: %s", error)
        return None
    image = picture.rgb
    if picture.alpha is not None:
        image = Image.new("RGB", image.size, "white")
        image.paste(picture.rgb, mask=picture.alpha)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _attached(filename: str, *, spoiler: bool) -> str:
    # attachment:// names only ASCII letters, digits, "_", "-" and "."; Discord blurs a file
    # whose name starts with SPOILER_
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", filename) or "dream"
    return _SPOILER + name if spoiler and not name.startswith(_SPOILER) else name


async def result_card(finished: Finished, *, controls: Sequence[discord.ui.Item[Any]] = ()) -> Card:
    """The card of ``finished``, ``controls`` (action rows) under it. The member's picture is
    shown beside the line when ``finished`` has it; a spoiler's pictures are all spoilers."""
    data, filename = finished.picture
    spoiler = finished.spoiler
    dreamed = _attached(filename, spoiler=spoiler)
    pictures = [(data, dreamed)]
    item = discord.MediaGalleryItem(
        f"attachment://{dreamed}",
        description=clip(finished.recipe, ALT_TEXT_LIMIT),
        spoiler=spoiler,
    )
    lines = [
        discord.ui.TextDisplay[Any](clip(finished.line, LINE_LIMIT)),
        discord.ui.TextDisplay[Any](
            f"Dreamed for <@{finished.user_id}> · <t:{int(finished.finished_at)}:R>"
        ),
    ]
    container = discord.ui.Container[Any](discord.ui.MediaGallery(item))
    small = await asyncio.to_thread(thumbnail, finished.original) if finished.original else None
    room = finished.max_bytes
    if small is not None and room is not None and len(data) + len(small) > room:
        small = None  # the dream was made to fill the upload limit: it comes first
    if small is None:
        # a section needs an accessory: without the member's picture the lines stand alone
        for line in lines:
            container.add_item(line)
    else:
        original = _attached(_ORIGINAL, spoiler=spoiler)
        pictures.append((small, original))
        beside = discord.ui.Thumbnail[Any](
            f"attachment://{original}", description=ORIGINAL_ALT_TEXT, spoiler=spoiler
        )
        container.add_item(discord.ui.Section(*lines, accessory=beside))
    if controls:
        container.add_item(discord.ui.Separator())
        for row in controls:
            container.add_item(row)
    # no timeout: the controls are DynamicItems, answered from their custom_id for ever
    layout = discord.ui.LayoutView(timeout=None)
    layout.add_item(container)
    return Card(layout, tuple(pictures))
