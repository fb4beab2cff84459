"""Tests for engine/sheet.py: the labelled grid of a model's presets and the name of its look."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from engine import DreamParams, available_models, decode, presets
from engine.errors import UnknownModel
from engine.layers import PRESETS, Preset
from engine.sheet import (
    PHOTO_LABEL,
    SHEET_MAX_BYTES,
    SHEET_SIDE,
    contact_sheet,
    layer_sheet,
    sheet_params,
    sheet_stem,
    sheet_version,
)

WHITE = (255, 255, 255)
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]


def _solid(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Image.Image:
    return Image.new("RGB", size, colour)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _geometry(w: int, h: int) -> tuple[int, int]:
    """The gap between cells and the label strip's height, measured from small sheets."""
    one = contact_sheet([_solid(COLOURS[0], (w, h))], ["a"])
    two = contact_sheet([_solid(COLOURS[0], (w, h))] * 2, ["a", "b"], columns=2)
    return two.width - 2 * w, one.height - h


def _strip(sheet: Image.Image, index: int, columns: int, w: int, h: int) -> Image.Image:
    gap, strip = _geometry(w, h)
    row, column = divmod(index, columns)
    left, top = column * (w + gap), row * (strip + h + gap)
    return sheet.crop((left, top, left + w, top + strip))


def test_grid_size_follows_columns_and_rows() -> None:
    """Five 40x30 pictures in 2 columns make 3 rows; 4 columns make 2; a gap between cells."""
    gap, strip = _geometry(40, 30)
    assert gap >= 0 and strip > 8  # a label needs room above its picture
    pictures = [_solid(c) for c in COLOURS]
    labels = [f"p{i}" for i in range(5)]
    three_rows = contact_sheet(pictures, labels, columns=2)
    assert three_rows.size == (2 * 40 + gap, 3 * (strip + 30) + 2 * gap)
    two_rows = contact_sheet(pictures, labels, columns=4)
    assert two_rows.size == (4 * 40 + 3 * gap, 2 * (strip + 30) + gap)
    # more columns than pictures: one row, no empty columns
    assert contact_sheet(pictures[:2], labels[:2], columns=4).size == (2 * 40 + gap, strip + 30)


def test_pictures_go_row_by_row_in_order() -> None:
    """Cell k shows picture k: left to right, then the next row."""
    gap, strip = _geometry(40, 30)
    sheet = contact_sheet([_solid(c) for c in COLOURS], [""] * 5, columns=3)
    for index, colour in enumerate(COLOURS):
        row, column = divmod(index, 3)
        centre = (column * (40 + gap) + 20, row * (strip + 30 + gap) + strip + 15)
        assert sheet.getpixel(centre) == colour, index
    # the sixth cell of the 3x2 grid stays empty
    assert sheet.getpixel((2 * (40 + gap) + 20, strip + 30 + gap + strip + 15)) == WHITE


def test_labels_are_drawn_in_each_cells_strip() -> None:
    """A cell's label darkens its strip; an empty label leaves it white; labels differ."""
    sheet = contact_sheet(
        [_solid(c, (60, 30)) for c in COLOURS[:3]], ["photo", "", "classic"], columns=3
    )
    photo, empty, classic = (_strip(sheet, i, 3, 60, 30) for i in range(3))
    assert photo.convert("L").getextrema()[0] < 100
    assert empty.getextrema() == ((255, 255),) * 3
    assert photo.tobytes() != classic.tobytes()


def test_a_long_label_stays_in_its_cell() -> None:
    """A label wider than its cell is cut, so the next cell's strip stays white."""
    sheet = contact_sheet([_solid(COLOURS[0]), _solid(COLOURS[1])], ["a" * 80, ""], columns=2)
    assert _strip(sheet, 0, 2, 40, 30).convert("L").getextrema()[0] < 100
    assert _strip(sheet, 1, 2, 40, 30).getextrema() == ((255, 255),) * 3


def test_a_picture_of_another_shape_is_fitted_and_centred() -> None:
    """A 20x30 picture in a 40x30 cell keeps its shape, centred, with white on both sides."""
    _, strip = _geometry(40, 30)
    sheet = contact_sheet([_solid(COLOURS[0]), _solid(COLOURS[2], (20, 30))], ["", ""], columns=1)
    gap = sheet.height - 2 * (strip + 30)
    top = strip + 30 + gap + strip
    assert sheet.getpixel((20, top + 15)) == COLOURS[2]
    assert sheet.getpixel((2, top + 15)) == WHITE and sheet.getpixel((37, top + 15)) == WHITE


def test_bad_arguments_are_refused() -> None:
    """No pictures, a label count that differs or no columns raise ValueError."""
    with pytest.raises(ValueError, match="at least one picture"):
        contact_sheet([], [])
    with pytest.raises(ValueError, match="2 pictures but 1 labels"):
        contact_sheet([_solid(COLOURS[0])] * 2, ["a"])
    with pytest.raises(ValueError, match="column"):
        contact_sheet([_solid(COLOURS[0])], ["a"], columns=0)


def test_layer_sheet_puts_the_photo_first_in_cells_of_its_size() -> None:
    """The photo, scaled to SHEET_SIDE, comes first; each dream fills a cell of the same size."""
    photo = _png(_solid(COLOURS[0], (400, 300)))
    dreams = [(f"d{i}", _png(_solid(c, (32, 24)))) for i, c in enumerate(COLOURS[1:3])]
    encoded = layer_sheet(photo, dreams, stem="layers-test")
    assert encoded.filename.startswith("layers-test.") and len(encoded.data) <= SHEET_MAX_BYTES
    sheet = decode(encoded.data).rgb
    cell_w, cell_h = SHEET_SIDE, SHEET_SIDE * 3 // 4
    gap, strip = _geometry(cell_w, cell_h)
    assert sheet.size == (3 * cell_w + 2 * gap, strip + cell_h)
    for index, colour in enumerate(COLOURS[:3]):
        pixel = sheet.getpixel((index * (cell_w + gap) + cell_w // 2, strip + cell_h // 2))
        assert isinstance(pixel, tuple)
        assert all(abs(a - b) <= 8 for a, b in zip(pixel, colour, strict=True)), (index, pixel)
    assert PHOTO_LABEL == "photo"


def test_sheet_version_names_the_preset_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The version is stable, differs by model, and changes with the presets or SHEET_VERSION."""
    first = sheet_version("efficientnet_lite0")
    assert first == sheet_version("efficientnet_lite0") and first.startswith("v")
    assert first != sheet_version("googlenet")
    assert sheet_stem("efficientnet_lite0") == f"layers-efficientnet_lite0-{first}"
    changed = (*PRESETS["efficientnet_lite0"], Preset("more", ("blocks.6",), "more"))
    monkeypatch.setitem(PRESETS, "efficientnet_lite0", changed)
    moved = sheet_version("efficientnet_lite0")
    assert moved != first
    monkeypatch.setattr("engine.sheet.SHEET_VERSION", 999)
    assert sheet_version("efficientnet_lite0") not in (first, moved)
    with pytest.raises(UnknownModel):
        sheet_version("no_such_model")


def test_sheet_params_are_small_seeded_single_preset_dreams() -> None:
    """Every preset of every model gives valid params: that preset only, small side, a seed."""
    for model in available_models():
        for preset in presets(model):
            params = sheet_params(model, preset.name)
            assert isinstance(params, DreamParams)
            assert params.model == model and params.layers == (preset.name,)
            assert params.max_side == SHEET_SIDE and params.seed is not None
