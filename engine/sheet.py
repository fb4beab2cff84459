"""Layer sheets: one sample photo dreamed with every preset of a model, in a labelled grid, so a
member can see what each preset paints. `contact_sheet` lays out the grid (pure Pillow);
`layer_sheet` decodes the dreams, lays them out after the photo and encodes the sheet;
`sheet_params` is how each cell is dreamed and `sheet_version` names a sheet's look, so a
changed preset table or dream recipe makes a new sheet."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import astuple

from PIL import Image, ImageDraw, ImageFont, ImageOps

from engine.layers import presets
from engine.params import DreamParams
from engine.pictures import Encoded, decode, encode

__all__ = [
    "PHOTO_LABEL",
    "SHEET_COLUMNS",
    "SHEET_MAX_BYTES",
    "SHEET_SIDE",
    "SHEET_VERSION",
    "contact_sheet",
    "layer_sheet",
    "sheet_params",
    "sheet_stem",
    "sheet_version",
]

# bump when the sheet's layout or drawing changes, so cached and shipped sheets are remade
SHEET_VERSION = 1
# longest side of each cell's dream
SHEET_SIDE = 192
SHEET_COLUMNS = 4
# what a sheet may weigh once encoded (a shipped one stays small in the wheel)
SHEET_MAX_BYTES = 350_000
PHOTO_LABEL = "photo"

_LABEL_SIZE = 13  # font size of a label, in pixels
_PAD = 3  # between a label and its cell's edges
_GAP = 2  # between cells
_BACKGROUND = (255, 255, 255)
_INK = (0, 0, 0)


def sheet_params(model: str, preset: str) -> DreamParams:
    """How one cell of a model's sheet is dreamed: small, modest and seeded, so it is quick and
    the same sheet comes out wherever it is made."""
    return DreamParams(
        model=model, layers=(preset,), max_side=SHEET_SIDE, octaves=3, steps=10, seed=1
    )


def sheet_version(model: str) -> str:
    """Names the look of a model's sheet: `SHEET_VERSION` and a hash of the model's presets
    (names, layers) and of how each is dreamed. Raises UnknownModel."""
    table = [(p.name, p.layers, astuple(sheet_params(model, p.name))) for p in presets(model)]
    digest = hashlib.sha256(repr((model, SHEET_SIDE, SHEET_COLUMNS, table)).encode())
    return f"v{SHEET_VERSION}-{digest.hexdigest()[:12]}"


def sheet_stem(model: str) -> str:
    """The file name, without its extension, of the model's sheet as it looks now."""
    return f"layers-{model}-{sheet_version(model)}"


def contact_sheet(
    pictures: Sequence[Image.Image],
    labels: Sequence[str],
    *,
    columns: int = SHEET_COLUMNS,
    cell: tuple[int, int] | None = None,
) -> Image.Image:
    """The pictures in a grid, row by row, each under its label, on white.

    Every cell is ``cell`` (width, height; default: the largest picture's size) under a label
    strip; a picture is scaled to fit its cell (keeping its shape) and centred; a label too wide
    for its cell is cut with an ellipsis. Raises ValueError for no pictures, a label count that
    differs from the picture count, or fewer than one column.
    """
    if not pictures:
        raise ValueError("A sheet needs at least one picture.")
    if len(labels) != len(pictures):
        raise ValueError(f"{len(pictures)} pictures but {len(labels)} labels.")
    if columns < 1:
        raise ValueError("A sheet needs at least one column.")
    width, height = cell or (max(p.width for p in pictures), max(p.height for p in pictures))
    font = _font()
    strip = _strip_height(font)
    columns = min(columns, len(pictures))
    rows = math.ceil(len(pictures) / columns)
    sheet = Image.new(
        "RGB",
        (columns * width + (columns - 1) * _GAP, rows * (strip + height) + (rows - 1) * _GAP),
        _BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    for index, (picture, label) in enumerate(zip(pictures, labels, strict=True)):
        row, column = divmod(index, columns)
        left, top = column * (width + _GAP), row * (strip + height + _GAP)
        text = _fit(draw, label, font, width - 2 * _PAD)
        draw.text((left + _PAD, top + _PAD), text, fill=_INK, font=font)
        fitted = ImageOps.contain(picture.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
        sheet.paste(
            fitted,
            (left + (width - fitted.width) // 2, top + strip + (height - fitted.height) // 2),
        )
    return sheet


def layer_sheet(
    photo: bytes,
    dreams: Sequence[tuple[str, bytes]],
    *,
    stem: str = "layers",
    max_bytes: int = SHEET_MAX_BYTES,
) -> Encoded:
    """The encoded sheet of a photo (file bytes) and its dreams (label, file bytes), in that
    order, every cell the photo's size at `SHEET_SIDE`. Raises the engine's `PictureError`s for
    bytes that are no picture, or PictureTooLarge when it cannot fit in ``max_bytes``."""
    original = decode(photo, max_side=SHEET_SIDE).rgb
    pictures = [original, *(decode(data, max_side=SHEET_SIDE).rgb for _, data in dreams)]
    labels = [PHOTO_LABEL, *(label for label, _ in dreams)]
    sheet = contact_sheet(pictures, labels, cell=original.size)
    return encode(sheet, max_bytes=max_bytes, stem=stem)


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's own font: the same look on every machine, no font files to find
    return ImageFont.load_default(size=_LABEL_SIZE)


def _strip_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    top, bottom = font.getbbox("Ag")[1::2]
    return int(bottom) + max(0, -int(top)) + 2 * _PAD


def _fit(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
