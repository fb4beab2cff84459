"""Tests for animations in and out: frames, durations and loop kept, budgets from the header,
sampling, and encoders that fit a byte budget."""

import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.frames
import engine.pictures
from engine import (
    Animation,
    BudgetExceeded,
    DecodeBudget,
    DecodeTimeout,
    DecompressionBomb,
    PictureTooLarge,
    UnsupportedFormat,
    decode_animation,
    encode_animation,
    encode_gif,
    encode_mp4,
    encode_webp,
    plan_frames,
    probe_animation,
    video_available,
)
from tests.engine import hostile

DATA = Path(__file__).resolve().parents[1] / "data"
DURATIONS = (60, 60, 120, 120, 200, 40)


def _pan(count: int, side: int = 64) -> tuple[Image.Image, ...]:
    """Frames panning across the astronaut, ``side`` pixels square."""
    with Image.open(DATA / "astronaut.png") as photo:
        small = photo.convert("RGB").resize((side + 3 * count, side + 3 * count))
    return tuple(small.crop((3 * i, 2 * i, 3 * i + side, 2 * i + side)) for i in range(count))


def _save(
    frames: tuple[Image.Image, ...], fmt: str, durations: tuple[int, ...], **options
) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        fmt,
        save_all=True,
        append_images=list(frames[1:]),
        duration=list(durations),
        **options,
    )
    return buffer.getvalue()


@pytest.fixture(scope="module")
def long_gif() -> bytes:
    """A 2000-frame GIF of 16 x 16 frames, every frame a different colour."""
    frames = tuple(Image.new("RGB", (16, 16), (i % 256, (i // 256) * 30, 90)) for i in range(2000))
    return _save(frames, "GIF", (40,) * 2000, loop=0)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_every_frame_is_decoded_with_its_duration_and_the_loop(fmt: str) -> None:
    """Animated GIF, WebP and PNG decode to all their frames, durations and loop count."""
    data = _save(_pan(6), fmt, DURATIONS, loop=3)
    animation = decode_animation(data)
    assert len(animation.frames) == 6 and animation.size == (64, 64)
    assert animation.durations == DURATIONS
    assert animation.loop == 3
    assert animation.note is None


def test_a_gif_without_a_loop_plays_once_again_after_a_round_trip() -> None:
    """A GIF with no loop block keeps playing once after decode and encode."""
    data = _save(_pan(3), "GIF", (100,) * 3)
    animation = decode_animation(data)
    assert animation.loop is None
    assert decode_animation(encode_gif(animation)).loop is None


def test_frames_are_scaled_to_the_side_limit() -> None:
    """``max_side`` scales every frame down, aspect kept."""
    frames = tuple(f.resize((96, 48)) for f in _pan(4))
    animation = decode_animation(_save(frames, "GIF", (80,) * 4), max_side=48)
    assert animation.size == (48, 24) and len(animation.frames) == 4


def test_a_still_picture_is_one_frame() -> None:
    """A PNG that is not animated decodes to a single frame."""
    buffer = io.BytesIO()
    _pan(1)[0].save(buffer, "PNG")
    animation = decode_animation(buffer.getvalue())
    assert len(animation.frames) == 1 and animation.durations == (engine.frames.DEFAULT_FRAME_MS,)


def test_a_2000_frame_gif_is_refused_at_once_without_decoding_its_frames(
    long_gif: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the frame budget, a 2000-frame GIF is refused from its header in under a second."""

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("frames were decoded")

    monkeypatch.setattr(engine.frames, "_read_frames", never)
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded) as refused:
        decode_animation(long_gif, max_frames=120)
    seconds = time.perf_counter() - started
    print(f"2000-frame GIF refused in {seconds * 1000:.0f} ms: {refused.value}")
    assert seconds < 1.0
    assert "2,000 frames" in str(refused.value) and "120" in str(refused.value)


def test_over_the_budget_every_nth_frame_is_kept_when_sampling_is_asked() -> None:
    """With ``sample``, 30 frames over a 10-frame budget become every 3rd, the time kept."""
    frames = _pan(30, side=32)
    data = _save(frames, "GIF", (50,) * 30, loop=0)
    animation = decode_animation(data, max_frames=10, sample=True)
    assert len(animation.frames) == 10
    assert animation.durations == (150,) * 10
    assert animation.note == "every 3rd frame (10 of 30)"
    assert np.array_equal(
        np.asarray(animation.frames[1]), np.asarray(decode_animation(data).frames[3])
    )


def test_the_pixel_budget_counts_frames_times_pixels() -> None:
    """Frames x pixels over ``max_pixels`` is refused, naming how many frames would fit."""
    with pytest.raises(BudgetExceeded, match="at most 4 frames"):
        plan_frames(10, (100, 100), max_frames=100, max_pixels=40_000)
    plan = plan_frames(10, (100, 100), max_frames=100, max_pixels=40_000, sample=True)
    assert plan.indices == (0, 3, 6, 9) and plan.note == "every 3rd frame (4 of 10)"
    assert plan_frames(4, (100, 100), max_frames=4, max_pixels=40_000).note is None


def _local_palettes(gif: bytes) -> int:
    """How many frames of a GIF carry their own colour table (walks the GIF's blocks)."""
    at = 13 + (3 << ((gif[10] & 7) + 1) if gif[10] & 0x80 else 0)
    local = 0
    while gif[at] != 0x3B:
        if gif[at] == 0x2C:
            packed = gif[at + 9]
            at += 10
            if packed & 0x80:
                local += 1
                at += 3 << ((packed & 7) + 1)
            at += 1  # LZW code size
        else:  # an extension: introducer and label
            at += 2
        while gif[at]:
            at += gif[at] + 1
        at += 1
    return local


def test_gif_uses_one_palette_for_all_frames() -> None:
    """The encoded GIF's frames share its one global palette, chosen from the frames themselves."""
    animation = Animation(_pan(6), DURATIONS, 0)
    data = encode_gif(animation)
    assert _local_palettes(data) == 0
    back = decode_animation(data)
    error = np.abs(
        np.asarray(back.frames[2], dtype=np.float32) - np.asarray(animation.frames[2], np.float32)
    ).mean()
    print(f"GIF {len(data):,} bytes, mean error {error:.1f} / 255")
    assert error < 12


@pytest.mark.parametrize("budget", [400_000, 60_000, 12_000])
def test_the_animation_fits_the_byte_budget(budget: int) -> None:
    """Whatever the budget, the file fits it and plays back as an animation."""
    animation = Animation(_pan(12, side=96), (80,) * 12, 0)
    encoded = encode_animation(animation, max_bytes=budget)
    print(budget, encoded.format, len(encoded.data), encoded.filename)
    assert len(encoded.data) <= budget
    assert encoded.filename == f"dream.{encoded.format.lower()}"
    if encoded.format != "MP4":
        back = decode_animation(encoded.data)
        assert len(back.frames) >= 2 and sum(back.durations) == pytest.approx(960, abs=40)


def test_gif_only_shrinks_then_drops_frames_to_fit() -> None:
    """A GIF that must fit a small budget gets smaller sides first, then fewer frames."""
    animation = Animation(_pan(12, side=96), (80,) * 12, 0)
    roomy = decode_animation(encode_animation(animation, max_bytes=10**7, formats=["GIF"]).data)
    assert roomy.size == (96, 96) and len(roomy.frames) == 12
    tight = encode_animation(animation, max_bytes=30_000, formats=["GIF"])
    assert len(tight.data) <= 30_000 and tight.format == "GIF"
    back = decode_animation(tight.data)
    assert max(back.size) < 96 and sum(back.durations) == 960


def test_an_impossible_budget_is_refused() -> None:
    """A budget no animation can fit raises PictureTooLarge."""
    with pytest.raises(PictureTooLarge):
        encode_animation(Animation(_pan(4), (80,) * 4, 0), max_bytes=200)


def test_webp_keeps_frames_and_durations() -> None:
    """Animated WebP output decodes to the same frames count and durations."""
    data = encode_webp(Animation(_pan(6), DURATIONS, 0))
    back = decode_animation(data)
    assert len(back.frames) == 6 and back.durations == DURATIONS


@pytest.mark.skipif(not video_available(), reason="PyAV (the 'video' extra) is not installed")
def test_mp4_is_h264_with_each_frames_duration() -> None:
    """MP4 output is H.264 with every frame at its own time; odd sides are trimmed to even."""
    import av

    frames = tuple(f.resize((65, 47)) for f in _pan(6))
    data = encode_mp4(Animation(frames, DURATIONS, 0))
    with av.open(io.BytesIO(data)) as video:
        stream = video.streams.video[0]
        assert stream.codec_context.name == "h264"
        decoded = list(video.decode(stream))
    assert len(decoded) == 6 and (decoded[0].width, decoded[0].height) == (64, 46)
    starts = [round(float(f.pts * f.time_base) * 1000) for f in decoded]
    assert starts == [0, 60, 120, 240, 360, 560]


def test_without_pyav_mp4_is_skipped_and_asked_for_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PyAV, encode_animation uses GIF/WebP only and encode_mp4 says what to install."""
    monkeypatch.setitem(sys.modules, "av", None)
    assert not video_available()
    animation = Animation(_pan(4), (80,) * 4, 0)
    with pytest.raises(UnsupportedFormat, match="pip install"):
        encode_mp4(animation)
    assert encode_animation(animation, max_bytes=10**6, formats=["MP4", "WEBP"]).format == "WEBP"
    with pytest.raises(UnsupportedFormat):
        encode_animation(animation, formats=["MP4"])


# --- decoding every frame within a budget -------------------------------------------------------


def _never(*args: object, **kwargs: object) -> None:
    raise AssertionError("frames were decoded")


def test_pillows_bomb_error_in_a_later_frame_is_a_decompression_bomb(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pillow's own DecompressionBombError, raised as it seeks to frame 2, is the engine's."""
    frames = tuple(Image.new("RGB", (120, 120), (i * 40, 0, 0)) for i in range(3))
    data = _save(frames, "GIF", (50,) * 3)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6_000)  # 120² = 14,400 > 2 x 6,000
    with pytest.raises(DecompressionBomb, match="decompression bomb"):
        decode_animation(data, max_side=64)


def test_a_decode_past_its_deadline_stops_between_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a clock that passes the deadline part-way, DecodeTimeout stops the frames' walk."""

    class Clock:
        now = 0.0

        @classmethod
        def monotonic(cls) -> float:
            cls.now += 0.01
            return cls.now

    data = _save(_pan(30, side=32), "GIF", (50,) * 30, loop=0)
    monkeypatch.setattr(engine.pictures, "time", Clock)
    decoded: list[int] = []
    flatten = engine.frames._flatten
    monkeypatch.setattr(engine.frames, "_flatten", lambda f, s: decoded.append(1) or flatten(f, s))
    with pytest.raises(DecodeTimeout, match="took more than 1 second"):
        decode_animation(data, budget=DecodeBudget(max_seconds=1))
    assert 0 < len(decoded) < 30


def test_the_work_of_every_frame_is_counted_before_the_second_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Frames x canvas over max_work is refused from the headers, skipped frames counted too."""
    data = _save(_pan(30, side=32), "GIF", (50,) * 30, loop=0)
    monkeypatch.setattr(engine.frames, "_read_frames", _never)
    budget = DecodeBudget(max_work=20 * 32 * 32)
    with pytest.raises(PictureTooLarge, match="30 frames of this picture"):
        decode_animation(data, max_frames=10, sample=True, budget=budget)


def test_the_memory_of_every_frame_is_estimated_before_the_second_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An animation whose frames would need more than max_memory is refused before reading them."""
    data = _save(_pan(4, side=200), "GIF", (50,) * 4, loop=0)
    monkeypatch.setattr(engine.frames, "_read_frames", _never)
    with pytest.raises(PictureTooLarge, match="memory"):
        decode_animation(data, budget=DecodeBudget(max_memory=1024 * 1024))


def test_probe_reads_every_frames_canvas_and_the_work_of_them_all() -> None:
    """probe_animation reports the frames and their canvas pixels, and refuses a later frame
    over the pixel limit though the first is small."""
    data = _save(_pan(5, side=40), "GIF", (50,) * 5, loop=0)
    info = probe_animation(data)
    assert (info.format, info.size, info.frames, info.work) == ("GIF", (40, 40), 5, 5 * 40 * 40)
    grown = hostile.gif((50, 50), [(0, 0, 50, 50), (0, 0, 400, 400)])
    with pytest.raises(PictureTooLarge, match="A frame of this animation is 400×400"):
        probe_animation(grown, max_pixels=100_000)
