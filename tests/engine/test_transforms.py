"""Tests for the octave pyramid, roll jitter, tile grid and Laplacian normalisation."""

import itertools

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.transforms import (
    from_pil,
    laplacian_merge,
    laplacian_normalize,
    laplacian_split,
    octave_sizes,
    resize,
    roll,
    tile_grid,
    to_pil,
)


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


def _rms(x: torch.Tensor) -> float:
    return float(x.square().mean().sqrt())


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 90), st.integers(1, 90), st.integers(0, 5), st.integers(0, 2**31))
def test_laplacian_bands_add_back_to_the_tensor(
    height: int, width: int, levels: int, seed: int
) -> None:
    """The pyramid's bands, coarsest first and each about half the last, merge back exactly."""
    x = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(seed))
    bands = laplacian_split(x.double(), levels)
    assert 1 <= len(bands) <= levels + 1
    assert bands[-1].shape == x.shape
    for coarse, fine in itertools.pairwise(bands):
        assert coarse.shape[-2] == (fine.shape[-2] + 1) // 2
    torch.testing.assert_close(laplacian_merge(bands), x.double(), rtol=0, atol=1e-12)


def test_laplacian_normalize_gives_every_band_unit_rms() -> None:
    """The result is the merge of the input's bands each scaled to unit root mean square."""
    x = torch.randn(1, 3, 96, 80, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = x * torch.linspace(0.1, 10, 80, dtype=torch.float64)  # bands of very unequal size
    bands = laplacian_split(x)
    assert len(bands) == 5
    scaled = [band / _rms(band) for band in bands]
    assert all(abs(_rms(band) - 1) < 1e-9 for band in scaled)
    torch.testing.assert_close(laplacian_normalize(x), laplacian_merge(scaled))


def test_laplacian_normalize_evens_out_a_loud_fine_band() -> None:
    """A pixel-fine checkerboard 100 times louder than a smooth ramp no longer drowns it out."""
    ramp = torch.linspace(-1, 1, 128).expand(1, 3, 128, 128)
    rows, cols = torch.meshgrid(torch.arange(128), torch.arange(128), indexing="ij")
    checks = ((rows + cols) % 2 * 2 - 1).float().expand(1, 3, 128, 128)
    out = laplacian_normalize(100 * checks + ramp)
    coarse_in, *_, fine_in = laplacian_split(100 * checks + ramp)
    coarse_out, *_, fine_out = laplacian_split(out)
    ratio_in, ratio_out = _rms(fine_in) / _rms(coarse_in), _rms(fine_out) / _rms(coarse_out)
    print(f"fine / coarse band: {ratio_in:.0f} in, {ratio_out:.2f} out")
    assert ratio_in > 50
    assert 0.2 < ratio_out < 5
    assert all(0.2 < _rms(band) < 3 for band in laplacian_split(out))


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-3, 1e3), st.integers(0, 2**31))
def test_laplacian_normalize_ignores_the_gradient_scale(scale: float, seed: int) -> None:
    """Scaling the input by any positive factor leaves the normalised result unchanged."""
    x = torch.randn(1, 3, 40, 56, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(
        laplacian_normalize(scale * x), laplacian_normalize(x), rtol=1e-4, atol=1e-5
    )


def test_laplacian_normalize_leaves_a_zero_gradient_zero() -> None:
    """A flat zero gradient (a saturated picture) stays zero instead of turning into NaN."""
    assert torch.equal(laplacian_normalize(torch.zeros(1, 3, 33, 47)), torch.zeros(1, 3, 33, 47))
