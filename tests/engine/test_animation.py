"""Tests for moving dreams: the zoom, every frame of an animation dreamed coherently, settings,
progress, cancelling and the cost known up front."""

import dataclasses
import io
import itertools
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import (
    Animation,
    AnimationParams,
    DreamCancelled,
    Dreamer,
    DreamParams,
    FrameProgress,
    ParamsError,
    Progress,
    ZoomParams,
    decode_animation,
    dream_animation_bytes,
    dream_frames,
    estimate_animation,
    estimate_dream,
    estimate_zoom,
    objective_cost,
    zoom,
    zoom_bytes,
)

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = DreamParams(octaves=1, steps=1, seed=5, max_side=64)
# two octaves of four steps: enough dream for flicker to show when frames are dreamed alone
COHERENCE = DreamParams(octaves=2, steps=4, seed=3, max_side=96)


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    with Image.open(DATA / "astronaut.png") as photo:
        return photo.convert("RGB").resize((64, 64), Image.Resampling.LANCZOS)


def _moving_ball(count: int) -> Animation:
    """The cat standing still while a ball rolls across it, 96 x 64."""
    with Image.open(DATA / "chelsea.png") as photo:
        cat = photo.convert("RGB").resize((96, 64), Image.Resampling.LANCZOS)
    frames = []
    for i in range(count):
        frame = cat.copy()
        ImageDraw.Draw(frame).ellipse((10 + 4 * i, 20, 26 + 4 * i, 36), fill=(250, 200, 40))
        frames.append(frame)
    return Animation(tuple(frames), (70,) * count, loop=0)


def _arrays(animation: Animation) -> list[np.ndarray]:
    return [np.asarray(frame, dtype=np.float32) for frame in animation.frames]


def _mean_change(animation: Animation) -> float:
    """Mean absolute change between consecutive frames, on a 0-255 scale."""
    frames = _arrays(animation)
    return float(np.mean([np.abs(b - a).mean() for a, b in itertools.pairwise(frames)]))


@pytest.mark.parametrize(
    "options",
    [
        {"frames": 1},
        {"frames": 2000},
        {"zoom": 0.9},
        {"rotate": 90},
        {"steps": 0},
        {"fps": 0},
        {"zoom": 0, "rotate": 0},
    ],
)
def test_bad_zoom_settings_are_refused(options: dict[str, float]) -> None:
    """Out-of-range zoom settings (or a zoom that would not move) raise ParamsError."""
    with pytest.raises(ParamsError):
        ZoomParams(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options", [{"blend": 1.0}, {"blend": -0.1}, {"follow_steps": 0}, {"max_frames": 0}]
)
def test_bad_animation_settings_are_refused(options: dict[str, float]) -> None:
    """Out-of-range animation settings raise ParamsError."""
    with pytest.raises(ParamsError):
        AnimationParams(**options)  # type: ignore[arg-type]


def test_zoom_makes_the_frames_asked_each_different_from_the_last(
    dreamer: Dreamer, astronaut: Image.Image
) -> None:
    """A zoom has the frame count, size and frame time asked, and every frame moves on."""
    settings = ZoomParams(frames=5, zoom=0.05, rotate=2, steps=1, fps=10)
    animation = zoom(dreamer, astronaut, TINY, settings)
    assert len(animation.frames) == 5 and animation.size == (64, 64)
    assert animation.durations == (100,) * 5 and animation.loop == 0
    frames = _arrays(animation)
    changes = [float(np.abs(b - a).mean()) for a, b in itertools.pairwise(frames)]
    print("zoom: mean change per frame", [round(c, 1) for c in changes])
    assert min(changes) > 2.0


def test_zoom_zooms_into_the_centre(dreamer: Dreamer) -> None:
    """The second frame's middle is the first frame's middle, enlarged."""
    target = Image.new("RGB", (64, 64), (40, 40, 40))
    ImageDraw.Draw(target).rectangle((22, 22, 41, 41), fill=(240, 240, 240))
    gentle = dataclasses.replace(TINY, strength=0.05)
    animation = zoom(dreamer, target, gentle, ZoomParams(frames=2, zoom=0.5, steps=1))
    bright = [(np.asarray(f.convert("L")) > 140).sum() for f in animation.frames]
    assert bright[1] > 1.8 * bright[0]  # area grows with the square of 1.5


def test_zoom_reports_progress_per_frame(dreamer: Dreamer, astronaut: Image.Image) -> None:
    """Progress comes as FrameProgress: frames done rise to the total, steps end at the total."""
    seen: list[Progress] = []
    zoom(dreamer, astronaut, TINY, ZoomParams(frames=3, steps=2), progress=seen.append)
    assert all(isinstance(p, FrameProgress) for p in seen)
    frame_progress = [p for p in seen if isinstance(p, FrameProgress)]
    assert [p.frame for p in frame_progress] == [1, 1, 2, 2, 3, 3]
    assert [p.frames_done for p in frame_progress] == [0, 1, 1, 2, 2, 3]
    assert frame_progress[-1].done == frame_progress[-1].total == 6
    assert frame_progress[-1].fraction == 1.0


def test_zoom_can_be_cancelled_between_steps(dreamer: Dreamer, astronaut: Image.Image) -> None:
    """Setting the cancel event during frame 2 stops the zoom with DreamCancelled."""
    cancel = threading.Event()
    seen: list[Progress] = []

    def progress(update: Progress) -> None:
        seen.append(update)
        if isinstance(update, FrameProgress) and update.frame == 2:
            cancel.set()

    with pytest.raises(DreamCancelled):
        zoom(
            dreamer,
            astronaut,
            TINY,
            ZoomParams(frames=10, steps=2),
            progress=progress,
            cancel=cancel,
        )
    assert max(p.frame for p in seen if isinstance(p, FrameProgress)) == 2


def test_every_frame_is_dreamed_with_durations_and_loop_kept(dreamer: Dreamer) -> None:
    """Dreaming an animation keeps its frame count, size, durations and loop."""
    source = _moving_ball(4)
    source = dataclasses.replace(source, durations=(40, 80, 120, 160), loop=2)
    dreamed = dream_frames(dreamer, source, TINY)
    assert len(dreamed.frames) == 4 and dreamed.size == source.size
    assert dreamed.durations == (40, 80, 120, 160) and dreamed.loop == 2
    assert all(
        np.abs(a - b).mean() > 1 for a, b in zip(_arrays(dreamed), _arrays(source), strict=True)
    )


def test_blended_frames_flow_where_independent_dreams_flicker(dreamer: Dreamer) -> None:
    """Consecutive frames change at least 2x less with the blend than dreamed one by one."""
    source = _moving_ball(8)
    alone = dream_frames(dreamer, source, COHERENCE, AnimationParams(blend=0))
    blended = dream_frames(dreamer, source, COHERENCE, AnimationParams(blend=0.85))
    still, flicker, flow = _mean_change(source), _mean_change(alone), _mean_change(blended)
    print(
        f"mean change between consecutive frames (0-255): input {still:.2f}, "
        f"each frame alone {flicker:.2f}, blended 0.85 {flow:.2f} ({flicker / flow:.1f}x less)"
    )
    assert flicker > 2 * flow


def test_the_blend_keeps_the_dream_as_strong_as_the_first_frame(dreamer: Dreamer) -> None:
    """The last frame is dreamed about as strongly as the first: no fading, no piling up."""
    source = _moving_ball(8)
    dreamed = dream_frames(dreamer, source, COHERENCE, AnimationParams(blend=0.85))
    strength = [
        float(np.abs(a - b).mean()) for a, b in zip(_arrays(dreamed), _arrays(source), strict=True)
    ]
    print("dream strength per frame (0-255)", [round(s, 1) for s in strength])
    assert 0.6 * strength[0] < strength[-1] < 1.3 * strength[0]


def test_following_frames_take_fewer_steps() -> None:
    """After the first frame, (1 - blend) of the steps (at least 1) keep the dream's strength."""
    params = DreamParams(steps=10, strength=1.0)
    follow = AnimationParams(blend=0.85).follow_params(params)
    assert follow.steps == 2 and follow.steps * follow.strength == pytest.approx(1.5)
    assert AnimationParams(blend=0).follow_params(params).steps == 10
    assert AnimationParams(follow_steps=3).follow_params(params).steps == 3


def test_the_cost_is_known_before_dreaming() -> None:
    """The estimate grows with frames and size, and is far lower on a GPU than on a CPU."""
    params = DreamParams(max_side=256)
    small = estimate_zoom((256, 256), params, ZoomParams(frames=10, steps=5))
    assert small.steps == 50 and small.megapixel_steps == pytest.approx(50 * 256 * 256 / 1e6)
    assert estimate_zoom((2048, 2048), params, ZoomParams(frames=10, steps=5)) == small
    longer = estimate_zoom((256, 256), params, ZoomParams(frames=40, steps=5))
    assert longer.seconds("cpu") > 3.9 * small.seconds("cpu")
    assert small.seconds("cuda") < small.seconds("cpu") / 5
    gif = estimate_animation(48, (512, 512), params, AnimationParams())
    assert gif.frames == 48 and gif.seconds("cpu") > 0
    assert estimate_animation(96, (512, 512), params, AnimationParams()).steps > 1.9 * gif.steps


def test_a_dearer_objective_costs_more_as_measured() -> None:
    """A mix, a class, a guide and smooth each add their measured share to every step; the
    still dream's estimate grows with them, and with the picture, up to max_side."""
    one = DreamParams(layers=("eyes",), max_side=512)
    assert objective_cost(one) == 1.0
    assert objective_cost(dataclasses.replace(one, layers=("eyes+animals",))) == pytest.approx(1.08)
    assert objective_cost(dataclasses.replace(one, dream_of=1)) == pytest.approx(1.35)
    assert objective_cost(one, guided=True) == pytest.approx(1.04)
    assert objective_cost(dataclasses.replace(one, smooth=True)) == pytest.approx(1.17)
    everything = dataclasses.replace(one, layers=("eyes+animals+fur",), dream_of=1, smooth=True)
    assert objective_cost(everything, guided=True) == pytest.approx(1 + 0.16 + 0.35 + 0.04 + 0.17)

    still = estimate_dream((512, 512), one)
    assert still.frames == 1 and still.steps == one.steps * one.octaves
    classy = estimate_dream((512, 512), dataclasses.replace(one, dream_of=1))
    assert classy.seconds("cpu") == pytest.approx(1.35 * still.seconds("cpu"))
    assert estimate_dream((4096, 4096), one) == still
    assert estimate_dream((256, 256), one).seconds("cpu") < still.seconds("cpu")
    zoom = ZoomParams(frames=10, steps=5)
    assert estimate_zoom((256, 256), one, zoom, guided=True).seconds("cpu") == pytest.approx(
        1.04 * estimate_zoom((256, 256), one, zoom).seconds("cpu")
    )


def test_dreamer_methods_work_from_bytes(dreamer: Dreamer) -> None:
    """zoom_bytes and dream_animation_bytes turn files into animations within a budget."""
    source = _moving_ball(3)
    buffer = io.BytesIO()
    source.frames[0].save(
        buffer, "GIF", save_all=True, append_images=list(source.frames[1:]), duration=[50, 90, 130]
    )
    encoded = dream_animation_bytes(dreamer, buffer.getvalue(), TINY, max_bytes=200_000)
    assert len(encoded.data) <= 200_000 and encoded.format == "GIF"
    back = decode_animation(encoded.data)
    assert len(back.frames) == 3 and back.durations == (50, 90, 130) and back.size == (64, 43)

    zoomed = zoom_bytes(dreamer, buffer.getvalue(), TINY, ZoomParams(frames=3, steps=1))
    assert zoomed.filename.startswith("zoom.") and len(decode_animation(zoomed.data).frames) == 3
    assert len(zoom(dreamer, source.frames[0], TINY, ZoomParams(frames=2, steps=1)).frames) == 2
