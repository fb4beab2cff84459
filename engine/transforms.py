"""Picture tensors: conversion, the octave pyramid, roll jitter, the tile grid and the Laplacian
pyramid that normalises a gradient band by band."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "from_pil",
    "laplacian_merge",
    "laplacian_normalize",
    "laplacian_split",
    "octave_sizes",
    "resize",
    "roll",
    "tile_grid",
    "to_pil",
]

# Octave sides are rounded to this so that the shapes of different pictures repeat (compile and
# cuDNN caches key on shape); the last octave keeps the picture's exact size.
SIDE_MULTIPLE = 8
MIN_SIDE = 32
# Google's lap_normalize: 4 halvings, so 5 bands, the coarsest 16 times smaller than the picture
LAPLACIAN_LEVELS = 4


def from_pil(image: Image.Image, device: torch.device) -> torch.Tensor:
    """An RGB picture as a 1 x 3 x H x W float tensor in [0, 1] on ``device``."""
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1)[None]
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True).float().div_(255)


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """The first picture of an N x 3 x H x W tensor in [0, 1] as an RGB picture."""
    array = tensor[0].clamp(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(array.cpu().numpy())


def octave_sizes(
    height: int, width: int, *, octaves: int, scale: float, min_side: int = MIN_SIDE
) -> list[tuple[int, int]]:
    """Sizes of the pyramid from smallest to the full size; octaves too small to see are dropped."""
    sizes = [(height, width)]
    for level in range(1, octaves):
        factor = scale**level
        h = _round_side(height / factor)
        w = _round_side(width / factor)
        if min(h, w) < max(min_side, MIN_SIDE) or (h, w) == sizes[-1]:
            break
        sizes.append((h, w))
    return sizes[::-1]


def _round_side(side: float) -> int:
    return max(SIDE_MULTIPLE, SIDE_MULTIPLE * round(side / SIDE_MULTIPLE))


def resize(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize; antialiased when shrinking so octaves do not alias."""
    if tuple(tensor.shape[-2:]) == size:
        return tensor
    shrinking = size[0] < tensor.shape[-2] or size[1] < tensor.shape[-1]
    return F.interpolate(
        tensor, size=size, mode="bilinear", align_corners=False, antialias=shrinking
    )


def roll(tensor: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift a picture by (dy, dx) pixels, wrapping around the edges."""
    if dy == 0 and dx == 0:
        return tensor
    return torch.roll(tensor, shifts=(dy, dx), dims=(-2, -1))


def tile_grid(height: int, width: int, tile: int) -> list[tuple[slice, slice]]:
    """Non-overlapping tiles of at most ``tile`` pixels a side covering every pixel once.

    Tiles are as equal as possible, so most share a shape and can be batched together.
    """
    rows = _split(height, tile)
    cols = _split(width, tile)
    return [(r, c) for r in rows for c in cols]


def _split(length: int, tile: int) -> list[slice]:
    count = max(1, math.ceil(length / tile))
    step = math.ceil(length / count)
    return [slice(start, min(start + step, length)) for start in range(0, length, step)]


def _binomial_kernel(channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Google's 5 x 5 kernel: the outer product of the binomial row 1 4 6 4 1, summing to 1
    row = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype)
    kernel = torch.outer(row, row) / row.sum() ** 2
    return kernel.expand(channels, 1, 5, 5).contiguous()


def _down(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, kernel, stride=2, padding=2, groups=x.shape[1])


def _up(x: torch.Tensor, kernel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # the transposed blur, times 4 since only every other pixel of the larger grid gets a value
    pad = (size[0] - (2 * x.shape[-2] - 1), size[1] - (2 * x.shape[-1] - 1))
    return F.conv_transpose2d(
        x, kernel * 4, stride=2, padding=2, output_padding=pad, groups=x.shape[1]
    )


def laplacian_split(x: torch.Tensor, levels: int = LAPLACIAN_LEVELS) -> list[torch.Tensor]:
    """An N x C x H x W tensor's Laplacian pyramid, coarsest first: the blurred ``levels``-times
    halved tensor, then each finer band of detail; `laplacian_merge` adds them back exactly.

    Halving stops early once a side would drop below one pixel.
    """
    kernel = _binomial_kernel(x.shape[1], x.device, x.dtype)
    bands = []
    for _ in range(levels):
        if min(x.shape[-2:]) < 2:
            break
        low = _down(x, kernel)
        bands.append(x - _up(low, kernel, (x.shape[-2], x.shape[-1])))
        x = low
    bands.append(x)
    return bands[::-1]


def laplacian_merge(bands: list[torch.Tensor]) -> torch.Tensor:
    """The tensor whose `laplacian_split` gives ``bands`` (coarsest first)."""
    x = bands[0]
    kernel = _binomial_kernel(x.shape[1], x.device, x.dtype)
    for band in bands[1:]:
        x = _up(x, kernel, (band.shape[-2], band.shape[-1])) + band
    return x


def laplacian_normalize(
    x: torch.Tensor, levels: int = LAPLACIAN_LEVELS, eps: float = 1e-10
) -> torch.Tensor:
    """Each band of ``x``'s Laplacian pyramid scaled to unit root mean square, then merged
    (Google's DeepDream ``lap_normalize``): a gradient whose fine grain is much louder than its
    large shapes gets them back at equal weight."""
    bands = laplacian_split(x, levels)
    return laplacian_merge([band / band.square().mean().sqrt().clamp_min(eps) for band in bands])
