"""The DeepDream ascent: octave pyramid, jittered and tiled gradient steps, and the `Dreamer`."""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from engine.device import autocast_dtype, resolve_device, tiles_that_fit
from engine.errors import DreamCancelled, ParamsError, PictureError
from engine.imagenet import imagenet_class
from engine.layers import resolve_layers
from engine.models import LOGITS, DreamModel, load_model
from engine.params import DreamParams, Progress, split_channel
from engine.pictures import DEFAULT_MAX_PIXELS, Encoded, decode, encode
from engine.transforms import from_pil, laplacian_normalize, octave_sizes, resize, tile_grid, to_pil

__all__ = ["Dreamer", "Objective", "dream", "measure_objective"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Progress], None]
# the guide image's features are taken at this longest side, like Google's 224-ish guides
GUIDE_SIDE = 320
# the side of the picture that measures a pass's memory per pixel on a GPU
PROBE_SIDE = 256
# Pixels of context the network sees around each tile. Without it, tile borders look like the
# picture's edge to the network, and a 1024 px efficientnet_lite0 dream in 512 px tiles reached
# 5 % less of the objective than untiled; with 32 px, 2 % less, for 13 % more pixels per pass.
TILE_MARGIN = 32


@dataclass(frozen=True)
class Objective:
    """What the ascent maximises: per layer a normalised term, plus an optional class logit."""

    # raw layer names, or "layer:N" for channel N of a layer alone (see `resolve_layers`)
    layers: tuple[str, ...]
    # the channels of every layer that names none itself; None means all channels
    channels: tuple[int, ...] | None = None
    # per layer C x M guide features; when given, a layer's term follows the guide instead of L2
    guide: tuple[torch.Tensor, ...] | None = None
    guide_weight: float = 1.0
    class_index: int | None = None
    class_weight: float = 1.0

    def per_sample(self, model: DreamModel, batch: torch.Tensor) -> torch.Tensor:
        """The objective of each picture in an N x 3 x H x W batch, as an N-vector in fp32."""
        acts = self.activations(model, batch, logits=self.class_index is not None)
        total = torch.zeros(batch.shape[0], device=batch.device)
        # each layer's term is a mean, so a large layer does not outweigh a small one
        for index, act in enumerate(acts[: len(self.layers)]):
            if self.guide is not None:
                total = total + self.guide_weight * _guided(act, self.guide[index])
            else:
                total = total + act.square().mean(dim=(1, 2, 3))
        if self.class_index is not None:
            total = total + self.class_weight * acts[-1][:, self.class_index, 0, 0]
        return total

    def activations(
        self, model: DreamModel, batch: torch.Tensor, *, logits: bool = False
    ) -> list[torch.Tensor]:
        """Each layer's N x C x H x W activations in fp32, only the channels dreamed (logits as
        N x 1000 x 1 x 1); with ``logits``, the network's logits after them."""
        names = [split_channel(layer) for layer in self.layers]
        wanted = [name for name, _ in names]
        outputs = model.forward_layers(batch, [*wanted, LOGITS] if logits else wanted)
        acts = [
            self._select(act, channel)
            for act, (_, channel) in zip(outputs[: len(names)], names, strict=True)
        ]
        if logits:
            acts.append(_four_d(outputs[-1].float()))
        return acts

    def _select(self, act: torch.Tensor, channel: int | None) -> torch.Tensor:
        act = _four_d(act.float())
        channels = (channel,) if channel is not None else self.channels
        if channels is None:
            return act
        if max(channels) >= act.shape[1]:
            raise ParamsError(
                f"This layer has channels 0 to {act.shape[1] - 1}; "
                f"channel {max(channels)} does not exist."
            )
        if len(channels) == 1:
            return act[:, channels[0] : channels[0] + 1]
        return act[:, list(channels)]


def _four_d(act: torch.Tensor) -> torch.Tensor:
    # the logits are N x 1000: as N x 1000 x 1 x 1, a channel of them is one class
    return act[:, :, None, None] if act.ndim == 2 else act


def _guided(act: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    # Google's objective_guide: each position is pulled towards its best-matching guide feature.
    x = act.flatten(2)  # N x C x P
    match = torch.einsum("ncp,cm->npm", x, guide).argmax(dim=-1)  # N x P
    target = guide[:, match].permute(1, 0, 2)  # N x C x P
    return (x * target).mean(dim=(1, 2))


def dream(
    image: Image.Image,
    params: DreamParams,
    *,
    model: DreamModel,
    objective: Objective,
    dtype: torch.dtype | None = None,
    tile_batch: int = 1,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Image.Image:
    """Dream an RGB picture; the result has the same size."""
    device = _model_device(model)
    if min(image.size) < model.min_side:
        raise PictureError(
            f"This picture is {image.width}×{image.height} pixels; {model.name} needs at least "
            f"{model.min_side} pixels on each side."
        )
    source = from_pil(image, device)
    seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**32)
    jitter_rng = torch.Generator().manual_seed(seed)
    sizes = octave_sizes(
        *source.shape[-2:],
        octaves=params.octaves,
        scale=params.octave_scale,
        min_side=model.min_side,
    )
    # resize returns the source itself at full size; the ascent works in place on a copy
    picture = resize(source, sizes[0]).clone()
    for octave, size in enumerate(sizes, start=1):
        if octave > 1:
            # carry what was dreamed so far up to this octave's size (in place: one buffer less)
            detail = picture.sub_(resize(source, sizes[octave - 2]))
            picture = resize(detail, size).add_(resize(source, size))
            del detail
        for step in range(1, params.steps + 1):
            if cancel is not None and cancel.is_set():
                raise DreamCancelled("The dream was cancelled.")
            dy, dx = torch.randint(-params.jitter, params.jitter + 1, (2,), generator=jitter_rng)
            grad = gradient(
                picture,
                model=model,
                objective=objective,
                dtype=dtype,
                shift=(int(dy), int(dx)),
                tile=params.tile_size,
                margin=TILE_MARGIN,
                tile_batch=tile_batch,
            )
            if params.smooth:
                # on the whole picture's gradient, not per tile: a tile's low band is not the
                # picture's, and tiles normalised apart would show their borders
                grad = laplacian_normalize(grad)
            # the mean absolute gradient, without a picture-sized temporary
            scale = params.step_size * grad.numel() / (torch.linalg.vector_norm(grad, ord=1) + 1e-8)
            picture.add_(grad.mul_(scale)).clamp_(0, 1)
            del grad
            if progress is not None:
                progress(Progress(octave, len(sizes), step, params.steps))
    del source
    return to_pil(picture)


def _model_device(model: DreamModel) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def gradient(
    picture: torch.Tensor,
    *,
    model: DreamModel,
    objective: Objective,
    dtype: torch.dtype | None,
    shift: tuple[int, int] = (0, 0),
    tile: int,
    margin: int = 0,
    tile_batch: int = 1,
) -> torch.Tensor:
    """The gradient, for a 1 x 3 x H x W picture, of the objective of that picture rolled by
    ``shift`` (the jitter), rolled back; computed tile by tile.

    Each tile is copied out of the picture with the roll applied, in at most four blocks (the roll
    wraps once each way), so no rolled copy of the whole picture is made. Each tile's objective is
    weighted by its share of the picture, so the tiles add up to the objective of the whole and no
    tile's gradient is louder than its area.
    """
    height, width = picture.shape[-2:]
    area = height * width
    # equal split keeps every tile above half the tile side, so the network always fits a tile
    tile = max(tile, 2 * model.min_side)
    groups: dict[tuple[int, int], list[tuple[slice, slice, slice, slice]]] = defaultdict(list)
    for rows, cols in tile_grid(height, width, tile):
        # the network sees each tile with a margin of its surroundings (cut at the picture's
        # edges, as the whole picture would be), and only the tile's own gradient is kept
        outer_rows = slice(max(0, rows.start - margin), min(height, rows.stop + margin))
        outer_cols = slice(max(0, cols.start - margin), min(width, cols.stop + margin))
        shape = (outer_rows.stop - outer_rows.start, outer_cols.stop - outer_cols.start)
        groups[shape].append((rows, cols, outer_rows, outer_cols))
    grad = torch.empty_like(picture)
    for (outer_h, outer_w), tiles in groups.items():
        weight = outer_h * outer_w / area
        for start in range(0, len(tiles), tile_batch):
            chunk = tiles[start : start + tile_batch]
            batch = torch.empty(
                (len(chunk), 3, outer_h, outer_w),
                device=picture.device,
                memory_format=torch.channels_last,
            )
            for index, (_, _, outer_rows, outer_cols) in enumerate(chunk):
                blocks = _rolled_blocks(outer_rows, outer_cols, shift, height, width)
                for (to_rows, to_cols), (from_rows, from_cols) in blocks:
                    batch[index, :, to_rows, to_cols] = picture[0, :, from_rows, from_cols]
            batch.requires_grad_(True)
            with torch.autocast(
                picture.device.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                loss = objective.per_sample(model, batch).sum() * weight
            (tile_grad,) = torch.autograd.grad(loss, batch)
            for index, (rows, cols, outer_rows, outer_cols) in enumerate(chunk):
                # the tile's own part of the window, in the window's coordinates
                inner = tile_grad[
                    index,
                    :,
                    rows.start - outer_rows.start : rows.stop - outer_rows.start,
                    cols.start - outer_cols.start : cols.stop - outer_cols.start,
                ]
                blocks = _rolled_blocks(rows, cols, shift, height, width)
                for (to_rows, to_cols), (from_rows, from_cols) in blocks:
                    grad[0, :, from_rows, from_cols] = inner[:, to_rows, to_cols]
    return grad


def _rolled_blocks(
    rows: slice, cols: slice, shift: tuple[int, int], height: int, width: int
) -> list[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """The window ``rows`` x ``cols`` of the picture rolled by ``shift``, as at most four blocks of
    the picture: (rows and columns in the window, rows and columns in the picture) pairs."""
    return [
        ((to_rows, to_cols), (from_rows, from_cols))
        for to_rows, from_rows in _rolled_runs(rows, shift[0], height)
        for to_cols, from_cols in _rolled_runs(cols, shift[1], width)
    ]


def _rolled_runs(window: slice, shift: int, length: int) -> list[tuple[slice, slice]]:
    """Where positions ``window`` of a line rolled by ``shift`` come from: (positions in the
    window, positions in the line) pairs, at most two, since the roll wraps at most once."""
    runs = []
    position = window.start
    while position < window.stop:
        source = (position - shift) % length
        run = min(window.stop - position, length - source)
        offset = position - window.start
        runs.append((slice(offset, offset + run), slice(source, source + run)))
        position += run
    return runs


@torch.no_grad()
def measure_objective(
    image: Image.Image,
    *,
    model: DreamModel,
    objective: Objective,
    dtype: torch.dtype | None = None,
) -> float:
    """The objective of a whole picture, for tests and benchmarks."""
    device = _model_device(model)
    batch = from_pil(image, device).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        return float(objective.per_sample(model, batch).sum())


class Dreamer:
    """Dreams on one device with cached models; use each instance from one thread only."""

    def __init__(
        self,
        *,
        device: str | torch.device = "auto",
        precision: str = "auto",
        weights: dict[str, str | Path] | None = None,
        cache_dir: Path | None = None,
        tile_batch: int | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.dtype = autocast_dtype(self.device, precision)
        if self.device.type == "cuda":
            # octave sides are rounded to multiples of 8, so cuDNN's per-shape choice is reused
            torch.backends.cudnn.benchmark = True
        self.weights = dict(weights or {})
        self.cache_dir = cache_dir
        # None: on a GPU, as many tiles per pass as its free memory holds (see `tile_batch`); on
        # a CPU one at a time, which keeps memory lowest and costs nothing in speed there
        self._tile_batch = tile_batch
        self._bytes_per_pixel: dict[tuple[str, tuple[str, ...], bool], float] = {}

    def tile_batch(self, model: DreamModel, objective: Objective, tile: int) -> int:
        """How many tiles of side ``tile`` (margins included) one forward and backward pass takes.

        On a GPU: as many as fit in half its free memory, from the memory one pass needs per
        pixel, measured once per model and depth with a small probe.
        """
        if self._tile_batch is not None:
            return self._tile_batch
        if self.device.type != "cuda":
            return 1
        key = (model.name, objective.layers, objective.class_index is not None)
        if key not in self._bytes_per_pixel:
            self._bytes_per_pixel[key] = self._measure_bytes_per_pixel(model, objective)
        free, _ = torch.cuda.mem_get_info(self.device)
        return tiles_that_fit(free, tile=tile, bytes_per_pixel=self._bytes_per_pixel[key])

    def _measure_bytes_per_pixel(self, model: DreamModel, objective: Objective) -> float:
        side = max(PROBE_SIDE, 2 * model.min_side)
        probe = torch.full((1, 3, side, side), 0.5, device=self.device)
        torch.cuda.synchronize(self.device)
        start = torch.cuda.memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        gradient(probe, model=model, objective=objective, dtype=self.dtype, tile=side)
        torch.cuda.synchronize(self.device)
        used = torch.cuda.max_memory_allocated(self.device) - start
        return max(used, 1) / side**2

    def model(self, name: str) -> DreamModel:
        """The model, loaded on first use and reused after."""
        return load_model(
            name, device=self.device, weights=self.weights.get(name), cache_dir=self.cache_dir
        )

    def objective(
        self, params: DreamParams, *, guide: Image.Image | None = None
    ) -> tuple[DreamModel, Objective]:
        """The model and the objective that ``params`` (and a guide picture) describe."""
        model = self.model(params.model)
        class_index = imagenet_class(params.dream_of) if params.dream_of is not None else None
        objective = Objective(
            layers=resolve_layers(model, params.layers),
            channels=params.channels,
            guide_weight=params.guide_weight,
            class_index=class_index,
            class_weight=params.class_weight,
        )
        if guide is not None:
            objective = dataclasses.replace(
                objective, guide=self._guide_features(model, objective, guide)
            )
        return model, objective

    @torch.no_grad()
    def _guide_features(
        self, model: DreamModel, objective: Objective, guide: Image.Image
    ) -> tuple[torch.Tensor, ...]:
        small = guide.convert("RGB")
        small.thumbnail((GUIDE_SIDE, GUIDE_SIDE), Image.Resampling.LANCZOS)
        batch = from_pil(small, self.device).contiguous(memory_format=torch.channels_last)
        with torch.autocast(
            self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None
        ):
            acts = objective.activations(model, batch)
        return tuple(act[0].flatten(1) for act in acts)

    def dream(
        self,
        image: Image.Image,
        params: DreamParams,
        *,
        guide: Image.Image | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Image.Image:
        """Dream an RGB picture at its own size; raises DreamCancelled once ``cancel`` is set."""
        model, objective = self.objective(params, guide=guide)
        return dream(
            image,
            params,
            model=model,
            objective=objective,
            dtype=self.dtype,
            tile_batch=self.tile_batch(model, objective, params.tile_size + 2 * TILE_MARGIN),
            progress=progress,
            cancel=cancel,
        )

    def dream_bytes(
        self,
        data: bytes,
        params: DreamParams,
        *,
        max_bytes: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        guide: bytes | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Encoded:
        """Decode, dream and encode a picture file, keeping its alpha; fits ``max_bytes``."""
        picture = decode(data, max_pixels=max_pixels, max_side=params.max_side)
        guide_picture = decode(guide, max_pixels=max_pixels).rgb if guide is not None else None
        result = self.dream(
            picture.rgb, params, guide=guide_picture, progress=progress, cancel=cancel
        )
        return encode(result, alpha=picture.alpha, max_bytes=max_bytes)
