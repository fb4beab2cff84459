"""Tests for the dream itself: objective gain, sizes, alpha, seeds, tiling, progress, cancel,
layer recipes and the Laplacian-normalised (smooth) gradient."""

import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from engine import (
    DreamCancelled,
    Dreamer,
    DreamParams,
    ParamsError,
    PictureError,
    Progress,
    decode,
    measure_objective,
)
from engine.dream import Objective, _rolled_runs, gradient
from engine.transforms import laplacian_normalize, tile_grid

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = DreamParams(octaves=2, steps=4, seed=7, max_side=96)


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return Image.open(DATA / "chelsea.png").convert("RGB").resize((120, 80))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_dream_raises_the_objective(dreamer: Dreamer, cat: Image.Image) -> None:
    """Twenty steps lift the layer's objective above the photo's (seen here: 1.46x)."""
    params = DreamParams(octaves=2, steps=10, seed=7)
    model, objective = dreamer.objective(params)
    before = measure_objective(cat, model=model, objective=objective)
    after = measure_objective(dreamer.dream(cat, params), model=model, objective=objective)
    print(f"objective {before:.1f} -> {after:.1f} ({after / before:.2f}x)")
    assert after > 1.3 * before


def test_more_strength_dreams_further(dreamer: Dreamer, cat: Image.Image) -> None:
    """A stronger dream moves the picture further from the photo."""
    photo = np.asarray(cat, dtype=np.float32)
    gentle = np.asarray(dreamer.dream(cat, SMALL), dtype=np.float32)
    strong = dreamer.dream(cat, DreamParams(octaves=2, steps=4, seed=7, strength=3.0))
    assert (
        np.abs(np.asarray(strong, dtype=np.float32) - photo).mean()
        > 1.5 * np.abs(gentle - photo).mean()
    )


def test_dream_keeps_size_and_mode(dreamer: Dreamer) -> None:
    """An odd-sized picture comes back at its exact size, in RGB."""
    image = Image.open(DATA / "coffee.png").convert("RGB").resize((101, 67))
    out = dreamer.dream(image, DreamParams(octaves=3, steps=1, seed=1))
    assert out.size == (101, 67) and out.mode == "RGB"


def test_same_seed_same_dream_other_seed_other_dream(dreamer: Dreamer, cat: Image.Image) -> None:
    """A seed makes the dream reproducible on one device; another seed changes it."""
    first = dreamer.dream(cat, SMALL).tobytes()
    assert dreamer.dream(cat, SMALL).tobytes() == first
    other = DreamParams(octaves=2, steps=4, seed=8, max_side=96)
    assert dreamer.dream(cat, other).tobytes() != first


def test_dream_bytes_keeps_alpha(dreamer: Dreamer) -> None:
    """A transparent PNG comes back with exactly its alpha channel."""
    rgba = Image.open(DATA / "chelsea.png").convert("RGBA").resize((90, 60))
    alpha = Image.linear_gradient("L").resize((90, 60))
    rgba.putalpha(alpha)
    encoded = dreamer.dream_bytes(_png(rgba), SMALL)
    out = Image.open(io.BytesIO(encoded.data))
    assert out.mode == "RGBA" and out.size == (90, 60)
    assert out.getchannel("A").tobytes() == alpha.tobytes()


def test_dream_bytes_honours_exif_orientation(dreamer: Dreamer) -> None:
    """A phone photo stored sideways with an EXIF rotation comes back upright."""
    image = Image.open(DATA / "coffee.png").convert("RGB").resize((90, 60))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    encoded = dreamer.dream_bytes(out.getvalue(), SMALL)
    assert Image.open(io.BytesIO(encoded.data)).size == (60, 90)


def test_dream_bytes_scales_down_to_max_side(dreamer: Dreamer) -> None:
    """A picture above the output cap is dreamed at the cap, aspect kept."""
    image = Image.open(DATA / "coffee.png").convert("RGB")
    encoded = dreamer.dream_bytes(_png(image), DreamParams(octaves=1, steps=1, max_side=90))
    assert decode(encoded.data).rgb.size == (90, 60)


def test_progress_is_monotonic_and_ends_at_total(dreamer: Dreamer, cat: Image.Image) -> None:
    """Progress is reported after every step, counting up to its total."""
    seen: list[Progress] = []
    dreamer.dream(cat, DreamParams(octaves=3, steps=2, seed=1), progress=seen.append)
    done = [p.done for p in seen]
    assert done == list(range(1, len(seen) + 1))
    assert seen[-1].done == seen[-1].total == 6
    assert seen[-1].fraction == 1.0


def test_cancel_stops_within_one_step(dreamer: Dreamer, cat: Image.Image) -> None:
    """Setting the cancel event stops the dream before the next step."""
    cancel = threading.Event()
    steps: list[Progress] = []

    def on_progress(progress: Progress) -> None:
        steps.append(progress)
        if progress.done == 3:
            cancel.set()

    with pytest.raises(DreamCancelled):
        dreamer.dream(cat, DreamParams(octaves=2, steps=5), progress=on_progress, cancel=cancel)
    assert len(steps) == 3


def test_channels_outside_the_layer_are_refused(dreamer: Dreamer, cat: Image.Image) -> None:
    """Asking for a channel the layer does not have is a clear settings error."""
    with pytest.raises(ParamsError, match="channel 5000"):
        dreamer.dream(cat, DreamParams(octaves=1, steps=1, channels=(5000,)))


def test_channel_selection_changes_the_dream(dreamer: Dreamer, cat: Image.Image) -> None:
    """Dreaming a few channels gives another picture than dreaming them all."""
    some = DreamParams(octaves=1, steps=3, seed=2, channels=(3, 17))
    assert (
        dreamer.dream(cat, some).tobytes()
        != dreamer.dream(cat, DreamParams(octaves=1, steps=3, seed=2)).tobytes()
    )


def test_dreaming_of_a_class_raises_its_logit(dreamer: Dreamer, cat: Image.Image) -> None:
    """With dream_of, the class's logit climbs during the dream."""
    params = DreamParams(octaves=1, steps=6, seed=3, dream_of="goldfish", class_weight=5.0)
    model, objective = dreamer.objective(params)
    assert objective.class_index == 1
    before = measure_objective(cat, model=model, objective=objective)
    after = measure_objective(dreamer.dream(cat, params), model=model, objective=objective)
    assert after > before


def test_guide_image_steers_the_dream(dreamer: Dreamer, cat: Image.Image) -> None:
    """A guide picture gives another dream than none, and raises the guided objective."""
    guide = Image.open(DATA / "coffee.png").convert("RGB")
    params = DreamParams(octaves=1, steps=4, seed=4)
    model, objective = dreamer.objective(params, guide=guide)
    guided = dreamer.dream(cat, params, guide=guide)
    assert guided.tobytes() != dreamer.dream(cat, params).tobytes()
    before = measure_objective(cat, model=model, objective=objective)
    assert measure_objective(guided, model=model, objective=objective) > before


def test_picture_smaller_than_the_network_is_refused(dreamer: Dreamer) -> None:
    """A picture too small for the model gets a clear picture error."""
    with pytest.raises(PictureError, match="at least"):
        dreamer.dream(Image.new("RGB", (20, 20)), DreamParams(octaves=1, steps=1))


def _seam_ratio(picture: Image.Image, borders: list[int]) -> float:
    """Mean jump across tile-border columns relative to the jump across all other columns."""
    array = np.asarray(picture, dtype=np.float32)
    jumps = np.abs(np.diff(array, axis=1)).mean(axis=(0, 2))
    at_border = jumps[[b - 1 for b in borders]].mean()
    inside = np.delete(jumps, [b - 1 for b in borders]).mean()
    return float(at_border / inside)


def test_tiles_leave_no_seams(dreamer: Dreamer) -> None:
    """With roll jitter, tile borders are no more visible than any other column."""
    photo = Image.open(DATA / "astronaut.png").convert("RGB").resize((256, 128))
    params = DreamParams(octaves=1, steps=8, seed=5, tile_size=64, strength=3.0)
    jittered = _seam_ratio(dreamer.dream(photo, params), [64, 128, 192])
    photo_ratio = _seam_ratio(photo, [64, 128, 192])
    print(f"seam ratio: photo {photo_ratio:.2f}, tiled dream {jittered:.2f}")
    assert jittered < 1.25 * max(photo_ratio, 1.0)


def test_jitter_rolls_each_tile_not_the_picture(dreamer: Dreamer) -> None:
    """The shifted, tiled gradient is the gradient of the rolled picture, rolled back."""
    params = DreamParams(layers=("strokes",))
    model, objective = dreamer.objective(params)
    picture = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(3))
    dy, dx = 5, -13

    def grad(x: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
        return gradient(
            x, model=model, objective=objective, dtype=None, shift=shift, tile=64, margin=8
        )

    expected = torch.roll(grad(torch.roll(picture, (dy, dx), (2, 3)), (0, 0)), (-dy, -dx), (2, 3))
    got = grad(picture, (dy, dx))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-8)
    assert not torch.allclose(got, grad(picture, (0, 0)), rtol=1e-2, atol=0)


@given(
    length=st.integers(1, 300),
    data=st.data(),
    shift=st.integers(-400, 400),
)
def test_rolled_runs_are_the_rolled_positions(length: int, data: st.DataObject, shift: int) -> None:
    start = data.draw(st.integers(0, length - 1))
    stop = data.draw(st.integers(start + 1, length))
    runs = _rolled_runs(slice(start, stop), shift, length)
    rolled = torch.roll(torch.arange(length), shift)[start:stop]
    assert len(runs) <= 2
    got = torch.full((stop - start,), -1)
    for to, source in runs:
        got[to] = torch.arange(length)[source]
    assert torch.equal(got, rolled)


def test_tile_margins_bring_the_tiled_gradient_close_to_the_whole(dreamer: Dreamer) -> None:
    """With context around each tile, tiles compute nearly the untiled picture's gradient."""
    model, objective = dreamer.objective(DreamParams())
    image = Image.open(DATA / "astronaut.png").convert("RGB").resize((256, 256))
    picture = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255

    def grad(tile: int, margin: int) -> torch.Tensor:
        return gradient(
            picture, model=model, objective=objective, dtype=None, tile=tile, margin=margin
        )

    whole = grad(256, 0)

    def error(tiled: torch.Tensor) -> float:
        return float((tiled - whole).norm() / whole.norm())

    bare, with_margin = error(grad(128, 0)), error(grad(128, 32))
    print(f"tiled gradient vs whole: no margin {bare:.3f}, 32 px margin {with_margin:.3f}")
    assert with_margin < 0.5 * bare


MEASURE = """
import json, re, sys
from pathlib import Path
from PIL import Image
from engine import Dreamer, DreamParams

# ru_maxrss would start at the parent's peak (Linux keeps it across fork and exec): reset the
# kernel's high-water mark instead and read it from /proc
def peak_kib():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1])

side, tile = int(sys.argv[1]), int(sys.argv[2])
dreamer = Dreamer(device="cpu")
image = Image.open(sys.argv[3]).convert("RGB").resize((side, side))
dreamer.dream(image, DreamParams(layers=("strokes",), octaves=1, steps=1, seed=0, tile_size=64))
Path("/proc/self/clear_refs").write_text("5")
before = peak_kib()
dreamer.dream(image, DreamParams(layers=("strokes",), octaves=1, steps=1, seed=0, tile_size=tile))
print(json.dumps((peak_kib() - before) / 1024))
"""


def _peak_growth_mib(side: int, tile: int) -> float:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(side), str(tile), str(DATA / "astronaut.png")],
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_tiling_bounds_peak_memory() -> None:
    """Tiled, a 1024 px dream needs well under half the extra memory of the untiled one."""
    untiled = _peak_growth_mib(1024, 4096)
    tiled = _peak_growth_mib(1024, 256)
    print(f"peak growth at 1024 px: untiled {untiled:.0f} MiB, 256 px tiles {tiled:.0f} MiB")
    assert tiled < 0.5 * untiled


# --- layer recipes ------------------------------------------------------------------------------


def test_the_order_of_a_mix_does_not_change_the_dream(dreamer: Dreamer, cat: Image.Image) -> None:
    """`eyes+animals`, `animals+eyes` and two separate items dream the same picture."""

    def dreamed(*layers: str) -> bytes:
        return dreamer.dream(cat, DreamParams(octaves=1, steps=2, seed=3, layers=layers)).tobytes()

    first = dreamed("eyes+animals")
    assert dreamed("ANIMALS + eyes") == first
    assert dreamed("animals", "eyes") == first
    assert dreamed("eyes") != first


def test_each_layer_of_a_mix_is_its_own_mean(dreamer: Dreamer, cat: Image.Image) -> None:
    """A mix's objective is the sum of each layer's mean squared activation."""

    def objective(layers: str) -> float:
        model, target = dreamer.objective(DreamParams(layers=(layers,)))
        return measure_objective(cat, model=model, objective=target)

    mixed, shallow, deep = objective("strokes+fur"), objective("strokes"), objective("fur")
    assert mixed == pytest.approx(shallow + deep, rel=1e-5)


def test_a_channel_term_dreams_that_channel_alone(dreamer: Dreamer, cat: Image.Image) -> None:
    """`blocks.4:12` dreams as channels=(12,) on blocks.4 does, and unlike all of blocks.4."""

    def dreamed(**options: object) -> bytes:
        params = DreamParams(octaves=1, steps=2, seed=5, **options)  # type: ignore[arg-type]
        return dreamer.dream(cat, params).tobytes()

    alone = dreamed(layers=("blocks.4:12",))
    assert alone == dreamed(layers=("blocks.4",), channels=(12,))
    assert alone != dreamed(layers=("blocks.4",))


def test_a_channel_term_keeps_its_channel_beside_others(dreamer: Dreamer, cat: Image.Image) -> None:
    """In `blocks.2+blocks.4:12` only blocks.4 is cut to one channel; channels= takes the rest."""
    _, objective = dreamer.objective(DreamParams(layers=("blocks.4:12+blocks.2",), channels=(1,)))
    model = dreamer.model("efficientnet_lite0")
    acts = objective.activations(model, torch.rand(1, 3, 64, 64))
    assert [act.shape[1] for act in acts] == [1, 1]
    full = model.forward_layers(torch.rand(1, 3, 64, 64), ["blocks.2"])[0]
    assert full.shape[1] == 40


def test_a_guide_follows_a_single_channel(dreamer: Dreamer, cat: Image.Image) -> None:
    """A guide picture works with a channel term: its features are of that channel too."""
    guide = Image.open(DATA / "coffee.png").convert("RGB")
    params = DreamParams(octaves=1, steps=3, seed=4, layers=("blocks.3:7+eyes",))
    model, objective = dreamer.objective(params, guide=guide)
    assert objective.guide is not None
    assert [features.shape[0] for features in objective.guide] == [1, 112]
    guided = dreamer.dream(cat, params, guide=guide)
    before = measure_objective(cat, model=model, objective=objective)
    assert measure_objective(guided, model=model, objective=objective) > before


def test_a_class_of_the_logits_can_be_dreamed_as_a_channel(
    dreamer: Dreamer, cat: Image.Image
) -> None:
    """`logits:1` (goldfish) as a layer raises that class's logit like dream_of does."""
    params = DreamParams(octaves=1, steps=4, seed=3, layers=("logits:1",))
    model, objective = dreamer.objective(params)
    check = Objective(layers=(), class_index=1)
    before = measure_objective(cat, model=model, objective=check)
    assert measure_objective(dreamer.dream(cat, params), model=model, objective=check) > before
    assert objective.layers == ("logits:1",)


# --- smooth: the Laplacian-normalised gradient ----------------------------------------------


def test_smooth_changes_the_dream(dreamer: Dreamer, cat: Image.Image) -> None:
    """The same dream with smooth on gives another picture, and still raises the objective."""
    plain = DreamParams(octaves=2, steps=6, seed=7, smooth=False)
    smooth = DreamParams(octaves=2, steps=6, seed=7, smooth=True)
    model, objective = dreamer.objective(plain)
    smoothed = dreamer.dream(cat, smooth)
    assert smoothed.tobytes() != dreamer.dream(cat, plain).tobytes()
    before = measure_objective(cat, model=model, objective=objective)
    assert measure_objective(smoothed, model=model, objective=objective) > 1.1 * before


def _per_tile_normalised(grad: torch.Tensor, tile: int) -> torch.Tensor:
    out = torch.empty_like(grad)
    for rows, cols in tile_grid(*grad.shape[-2:], tile):
        out[..., rows, cols] = laplacian_normalize(grad[..., rows, cols].contiguous())
    return out


def test_smooth_normalises_the_assembled_gradient_not_each_tile(dreamer: Dreamer) -> None:
    """Normalising the tiled gradient once assembled comes within 2 % of the untiled result;
    normalising each tile apart would not (its bands are not the picture's)."""
    model, objective = dreamer.objective(DreamParams(layers=("strokes",)))
    # tiles (and margins) start at multiples of the network's stride, as the whole picture does:
    # elsewhere a strided network samples the tile on another grid and its gradient differs
    image = Image.open(DATA / "astronaut.png").convert("RGB").resize((256, 256))
    picture = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255

    def grad(tile: int, margin: int) -> torch.Tensor:
        return gradient(
            picture, model=model, objective=objective, dtype=None, tile=tile, margin=margin
        )

    whole = laplacian_normalize(grad(256, 0))
    tiled = grad(128, 32)

    def error(got: torch.Tensor) -> float:
        return float((got - whole).norm() / whole.norm())

    assembled, apart = error(laplacian_normalize(tiled)), error(_per_tile_normalised(tiled, 128))
    print(f"smooth gradient vs untiled: assembled {assembled:.4f}, tile by tile {apart:.4f}")
    assert assembled < 0.02
    assert apart > 0.1


def test_a_tiled_smooth_dream_matches_the_untiled_one(dreamer: Dreamer) -> None:
    """With smooth on, a dream in 64 px tiles stays close to the same dream in one piece."""
    photo = Image.open(DATA / "astronaut.png").convert("RGB").resize((256, 128))

    def dreamed(tile: int, *, smooth: bool = True) -> np.ndarray:
        params = DreamParams(
            layers=("strokes",), octaves=1, steps=4, seed=2, tile_size=tile, smooth=smooth
        )
        return np.asarray(dreamer.dream(photo, params), dtype=np.float32)

    whole, tiled = dreamed(4096), dreamed(64)
    changed = np.abs(whole - np.asarray(photo, dtype=np.float32)).mean()
    off = np.abs(tiled - whole).mean()
    print(f"mean change {changed:.2f}, tiled vs whole {off:.2f} (of 255)")
    assert off < 0.1 * changed
