"""Picture tensors: conversion, the octave pyramid, roll jitter and the tile grid."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "from_pil",
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
