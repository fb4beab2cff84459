"""Tests for the octave pyramid, roll jitter and tile grid."""

import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from engine.transforms import from_pil, octave_sizes, resize, roll, tile_grid, to_pil


def test_octave_sizes_grow_to_the_full_size() -> None:
    """The pyramid runs from small to exactly the picture's size, each level about scale larger."""
    sizes = octave_sizes(512, 384, octaves=4, scale=1.4)
    assert len(sizes) == 4
    assert sizes[-1] == (512, 384)
    heights = [h for h, _ in sizes]
    assert heights == sorted(heights)
    assert abs(sizes[0][0] - 512 / 1.4**3) <= 8


def test_octave_sizes_drop_levels_too_small_to_see() -> None:
    """A tiny picture gets fewer octaves rather than a level a few pixels wide."""
    sizes = octave_sizes(48, 48, octaves=6, scale=1.4)
    assert sizes[-1] == (48, 48)
    assert all(min(size) >= 32 for size in sizes)
    assert len(sizes) < 6


def test_inner_octaves_are_multiples_of_eight() -> None:
    """Inner octave sides are rounded so shapes repeat across pictures."""
    for size in octave_sizes(1001, 777, octaves=5, scale=1.3)[:-1]:
        assert size[0] % 8 == 0 and size[1] % 8 == 0


@given(st.integers(1, 700), st.integers(1, 700), st.integers(16, 512))
def test_tiles_cover_every_pixel_exactly_once(height: int, width: int, tile: int) -> None:
    """The tile grid covers the picture without overlap and no tile exceeds the tile size."""
    cover = torch.zeros(height, width, dtype=torch.int32)
    for rows, cols in tile_grid(height, width, tile):
        assert rows.stop - rows.start <= tile and cols.stop - cols.start <= tile
        cover[rows, cols] += 1
    assert bool((cover == 1).all())


def test_tiles_mostly_share_one_shape() -> None:
    """Tiles are as equal as possible so they batch together."""
    shapes = {(r.stop - r.start, c.stop - c.start) for r, c in tile_grid(1000, 1000, 256)}
    assert shapes == {(250, 250)}


def test_roll_is_undone_by_the_opposite_roll() -> None:
    """Rolling by (dy, dx) then (-dy, -dx) gives the picture back."""
    picture = torch.rand(1, 3, 20, 30)
    assert torch.equal(roll(roll(picture, 7, -11), -7, 11), picture)


def test_pil_round_trip_is_exact() -> None:
    """A picture converted to a tensor and back is unchanged."""
    image = Image.effect_noise((40, 30), 60).convert("RGB")
    back = to_pil(from_pil(image, torch.device("cpu")))
    assert back.tobytes() == image.tobytes()


def test_resize_keeps_value_range() -> None:
    """Shrinking and growing stays inside [0, 1]."""
    picture = torch.rand(1, 3, 64, 64)
    small = resize(picture, (24, 24))
    assert small.shape[-2:] == (24, 24)
    assert float(resize(small, (64, 64)).min()) >= -1e-4
