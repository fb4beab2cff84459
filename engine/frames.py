"""Animations in and out: decode every frame of an animated GIF, WebP or PNG within a frame budget,
and encode frames as animated GIF, animated WebP or MP4 (PyAV) within a byte budget."""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image, ImageSequence

from engine.errors import BudgetExceeded, EmptyPicture, PictureTooLarge, UnsupportedFormat
from engine.pictures import (
    DEFAULT_BUDGET,
    DEFAULT_MAX_PIXELS,
    DecodeBudget,
    DecodeMeter,
    Encoded,
    Layout,
    decode_first,
    read_layout,
    untrusted,
)

__all__ = [
    "ANIMATION_FORMATS",
    "DEFAULT_FRAME_MS",
    "Animation",
    "AnimationInfo",
    "FramePlan",
    "decode_animation",
    "encode_animation",
    "encode_gif",
    "encode_mp4",
    "encode_webp",
    "plan_frames",
    "probe_animation",
    "video_available",
]

# the formats encode_animation tries, most compatible first: GIF plays inline and loops
# everywhere, animated WebP looks better per byte, MP4 (H.264) is the smallest by far
ANIMATION_FORMATS = ("GIF", "WEBP", "MP4")
# a frame without a duration shows this long (what browsers do with GIF delays under 20 ms)
DEFAULT_FRAME_MS = 100
_MIN_FRAME_MS = 20
# sampling still walks every frame of the file (GIF frames build on each other): past this many
# the file is refused whatever the budget, so unpacking it cannot take long
MAX_SOURCE_FRAMES = 5_000
# and the source pixels unpacked for that walk are capped at this many times the frame budget
_SOURCE_WORK_FACTOR = 20
# bytes a canvas pixel while one frame is gone through: Pillow's canvas, the previous one and the
# frame's own pixels, then _flatten's RGBA, white background, blend and RGB (measured in a fresh
# process on 2400×1800 frames: GIF 17, PNG 16-21, WebP 22-31 with the decoder's 8 below)
_FRAME_BYTES = 28
_WEBP_DECODER_BYTES = 8  # libwebp's decoder holds two RGBA canvases for as long as it is open

_EXTENSIONS = {"GIF": "gif", "WEBP": "webp", "MP4": "mp4"}
# lowest quality first: if that does not fit, no other quality will (see _fit_format)
_GIF_LADDER = (64, 128, 256)  # palette sizes
_WEBP_LADDER = (40, 60, 80)  # quality
_MP4_LADDER = (34, 28, 23)  # x264 CRF, lower is better
_MIN_SIDE = 64


@dataclass(frozen=True)
class Animation:
    """Frames of one size with their display times; ``loop`` 0 repeats forever, None plays once."""

    frames: tuple[Image.Image, ...]  # mode RGB, all the same size
    durations: tuple[int, ...]  # milliseconds each frame shows
    loop: int | None = 0
    # how the frames were chosen, for people: e.g. "every 3rd frame (40 of 120)"; None: all of them
    note: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("an animation needs at least one frame")
        if len(self.durations) != len(self.frames):
            raise ValueError("give one duration per frame")
        if any(f.mode != "RGB" or f.size != self.frames[0].size for f in self.frames):
            raise ValueError("frames must be mode RGB and all the same size")

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size

    @property
    def duration_ms(self) -> int:
        return sum(self.durations)

    def scaled(self, factor: float) -> Animation:
        """The same animation with each side times ``factor`` (at least 1 pixel)."""
        width, height = self.size
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        frames = tuple(f.resize(size, Image.Resampling.LANCZOS) for f in self.frames)
        return Animation(frames, self.durations, self.loop, self.note)

    def every(self, step: int) -> Animation:
        """Every ``step``-th frame, each shown for the frames it stands for (same total time)."""
        if step <= 1:
            return self
        frames = self.frames[::step]
        durations = tuple(
            sum(self.durations[i : i + step]) for i in range(0, len(self.frames), step)
        )
        return Animation(frames, durations, self.loop, self.note)


@dataclass(frozen=True)
class AnimationInfo:
    """What a picture file's headers say: format, size and frame count."""

    format: str  # one of ACCEPTED_FORMATS
    size: tuple[int, int]  # width, height of the first frame as stored
    frames: int
    # canvas pixels unpacked to go through every frame: what decode_animation's work budget
    # (DecodeBudget.max_work) counts; 0 when not known
    work: int = 0


def probe_animation(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, budget: DecodeBudget = DEFAULT_BUDGET
) -> AnimationInfo:
    """Format, size and frame count from the headers alone (nothing is decoded); every frame's
    size, and the canvas it lands on, is checked as `decode` checks the first. Bytes that are no
    usable picture raise the `PictureError` that `decode` gives them."""
    if not data:
        raise EmptyPicture("The file is empty; send PNG, JPEG, WebP or GIF.")
    meter = DecodeMeter(budget, len(data))
    with untrusted():
        im, layout = read_layout(data, meter, max_pixels=max_pixels)
        im.close()
    return AnimationInfo(layout.format, layout.size, layout.frames, layout.work)


@dataclass(frozen=True)
class FramePlan:
    """Which frames of an animation to dream, decided from the header alone."""

    indices: tuple[int, ...]  # frames of the file to keep, in order
    of: int  # frames in the file
    size: tuple[int, int]  # the frames' size once scaled to the side limit

    @property
    def step(self) -> int:
        return self.indices[1] - self.indices[0] if len(self.indices) > 1 else 1

    @property
    def note(self) -> str | None:
        """What was left out, for people; None when every frame is kept."""
        if len(self.indices) == self.of:
            return None
        return f"every {_ordinal(self.step)} frame ({len(self.indices)} of {self.of})"


def plan_frames(
    frames: int,
    size: tuple[int, int],
    *,
    max_frames: int,
    max_pixels: int,
    sample: bool = False,
) -> FramePlan:
    """Keep every frame if ``frames`` x pixels fits the budget; else every n-th frame (``sample``)
    or `BudgetExceeded` saying what would fit."""
    width, height = size
    fits = min(max_frames, max_pixels // max(1, width * height))
    if fits < 1:
        raise BudgetExceeded(
            f"Frames of {width}×{height} pixels are too large to animate here; "
            "please send a smaller animation."
        )
    if frames <= fits:
        return FramePlan(tuple(range(frames)), frames, size)
    if not sample or frames > MAX_SOURCE_FRAMES:
        raise BudgetExceeded(
            f"This animation has {frames:,} frames of {width}×{height} pixels; I can dream at "
            f"most {fits:,} frames of that size. Please send a shorter or smaller one."
        )
    step = math.ceil(frames / fits)
    return FramePlan(tuple(range(0, frames, step)), frames, size)


def decode_animation(
    data: bytes,
    *,
    max_side: int | None = None,
    max_frames: int = 120,
    max_pixels: int = 120 * 512 * 512,
    sample: bool = False,
    max_frame_pixels: int = DEFAULT_MAX_PIXELS,
    budget: DecodeBudget = DEFAULT_BUDGET,
) -> Animation:
    """Every frame (or every n-th, with ``sample``) of an animated GIF, WebP or PNG, as RGB frames
    scaled to ``max_side``; a still picture gives one frame.

    The budget (``max_frames``, and ``max_pixels`` for frames x pixels per frame after scaling) is
    checked from the headers before any frame past the first is decoded, as are every frame's
    size (``max_frame_pixels``) and the work, memory and time of going through them all
    (``budget``, one for the whole call). See-through pixels are shown on white: the encoders
    write opaque frames.
    """
    if not data:
        raise EmptyPicture("The file is empty; send PNG, JPEG, WebP or GIF.")
    meter = DecodeMeter(budget, len(data))
    with untrusted():
        first, layout = decode_first(data, meter, max_pixels=max_frame_pixels, max_side=max_side)
        plan = plan_frames(
            layout.frames,
            first.rgb.size,
            max_frames=max_frames,
            max_pixels=max_pixels,
            sample=sample,
        )
        if layout.frames == 1:
            with read_layout(data, meter, max_pixels=max_frame_pixels)[0] as im:
                loop, duration = im.info.get("loop"), _duration(im.info)
            return Animation((first.rgb,), (duration,), _loop(loop), None)
        width, height = layout.canvas
        if layout.work > _SOURCE_WORK_FACTOR * max_pixels:
            raise BudgetExceeded(
                f"This animation unpacks into {plan.of:,} frames of up to {width}×{height} "
                "pixels, too much to go through here; please send a shorter or smaller one."
            )
        meter.check_work(meter.work + layout.work, layout.frames)
        meter.check_memory(_frames_bytes(layout, plan))
        im, _ = read_layout(data, meter, max_pixels=max_frame_pixels)
        with im:
            loop = im.info.get("loop")
            frames, durations = _read_frames(im, plan, meter, max_frame_pixels)
    return Animation(tuple(frames), tuple(durations), _loop(loop), plan.note)


def _frames_bytes(layout: Layout, plan: FramePlan) -> int:
    """The peak memory of going through every frame: the kept frames, and one frame's work."""
    canvas = layout.canvas[0] * layout.canvas[1]
    kept = len(plan.indices) * plan.size[0] * plan.size[1] * 4
    per_pixel = _FRAME_BYTES + (_WEBP_DECODER_BYTES if layout.format == "WEBP" else 0)
    return kept + per_pixel * canvas


def _read_frames(
    im: Image.Image, plan: FramePlan, meter: DecodeMeter, max_pixels: int
) -> tuple[list[Image.Image], list[int]]:
    keep = set(plan.indices)
    frames: list[Image.Image] = []
    durations: list[int] = []
    for index, frame in enumerate(ImageSequence.Iterator(im)):
        if index >= plan.of:
            break
        # seeking read the frame's header, not its pixels: check it as the first was checked
        meter.check_size(frame.size, max_pixels=max_pixels, what="A frame of this animation")
        meter.spend(frame.width * frame.height, index + 1)
        frame.load()  # WebP reads a frame's duration when it decodes it
        duration = _duration(frame.info)
        if index in keep:
            frames.append(_flatten(frame, plan.size))
            durations.append(duration)
        else:  # a left-out frame's time goes to the kept one before it: same total time
            durations[-1] += duration
    return frames, durations


def _flatten(frame: Image.Image, size: tuple[int, int]) -> Image.Image:
    rgba = frame.convert("RGBA")
    if rgba.getchannel("A").getextrema() != (255, 255):
        background = Image.new("RGBA", rgba.size, "white")
        rgba = Image.alpha_composite(background, rgba)
    rgb = rgba.convert("RGB")
    if rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return rgb


def _duration(info: Mapping[Any, Any]) -> int:
    value = info.get("duration")
    if not isinstance(value, int | float) or value < _MIN_FRAME_MS:
        return DEFAULT_FRAME_MS
    return round(value)


def _loop(value: object) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None


# --- encoding -----------------------------------------------------------------------------------


def encode_gif(animation: Animation, *, colors: int = 256) -> bytes:
    """An animated GIF with one global palette for all frames, chosen from the frames themselves.

    One shared palette does not shimmer between frames, needs no colour table per frame, and
    lets Pillow store only the part of each frame that changed.
    """
    palette = _shared_palette(animation.frames, colors)
    frames = [
        f.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG) for f in animation.frames
    ]
    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if animation.loop is not None:
        options["loop"] = animation.loop
    frames[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=list(animation.durations),
        palette=palette.getpalette(),  # as the global table; without it each frame gets its own
        disposal=1,
        **options,
    )
    return buffer.getvalue()


def _shared_palette(frames: Sequence[Image.Image], colors: int) -> Image.Image:
    # a mosaic of up to 16 frames, each at most 128 px, stands in for the whole animation
    sample = frames[:: max(1, math.ceil(len(frames) / 16))]
    thumbs = [f.copy() for f in sample]
    for thumb in thumbs:
        thumb.thumbnail((128, 128), Image.Resampling.BILINEAR)
    width = sum(t.width for t in thumbs)
    height = max(t.height for t in thumbs)
    mosaic = Image.new("RGB", (width, height))
    x = 0
    for thumb in thumbs:
        mosaic.paste(thumb, (x, 0))
        x += thumb.width
    return mosaic.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)


def encode_webp(animation: Animation, *, quality: int = 80) -> bytes:
    """An animated WebP (lossy, ``quality`` 0-100)."""
    buffer = io.BytesIO()
    first, *rest = animation.frames
    first.save(
        buffer,
        "WEBP",
        save_all=True,
        append_images=rest,
        duration=list(animation.durations),
        loop=0 if animation.loop is None else animation.loop,
        quality=quality,
        method=4,
    )
    return buffer.getvalue()


def video_available() -> bool:
    """Whether MP4 can be written: PyAV (``pip install 'deepdream-bot[video]'``) is installed."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def encode_mp4(animation: Animation, *, crf: int = 23) -> bytes:
    """An H.264 MP4 through PyAV, each frame shown for its own duration; no sound, no loop.

    Sides are trimmed to even numbers (H.264's 4:2:0 colour needs them).
    """
    try:
        import av
    except ImportError:
        raise UnsupportedFormat(
            "Writing MP4 needs PyAV: pip install 'deepdream-bot[video]' (or pip install av)."
        ) from None
    width, height = (max(2, side - side % 2) for side in animation.size)
    if min(animation.size) < 2:
        raise PictureTooLarge("Frames under 2 pixels a side cannot be written as MP4.")
    millisecond = Fraction(1, 1000)
    mean_ms = animation.duration_ms / len(animation.frames)
    # the mp4 muxer moves its index to the front (+faststart: plays while it downloads) by
    # rewriting the file, which needs a real file rather than memory
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dream.mp4"
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=Fraction(round(1000 / mean_ms * 1000), 1000))
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = millisecond
            stream.options = {"crf": str(crf), "preset": "medium"}
            pts = 0
            for image, duration in zip(animation.frames, animation.durations, strict=True):
                if image.size != (width, height):
                    image = image.crop((0, 0, width, height))
                frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
                frame.pts, frame.time_base = pts, millisecond
                pts += duration
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        return path.read_bytes()


def encode_as(animation: Animation, fmt: str, *, quality: int | None = None) -> bytes:
    """One format at one quality: GIF palette size, WebP quality or MP4 CRF (None: the best)."""
    fmt = fmt.upper()
    if fmt == "GIF":
        return encode_gif(animation, colors=quality or _GIF_LADDER[-1])
    if fmt == "WEBP":
        return encode_webp(animation, quality=quality or _WEBP_LADDER[-1])
    if fmt == "MP4":
        return encode_mp4(animation, crf=quality or _MP4_LADDER[-1])
    raise UnsupportedFormat(f"Animations are written as GIF, WebP or MP4, not {fmt}.")


def encode_animation(
    animation: Animation,
    *,
    max_bytes: int | None = None,
    formats: Sequence[str] = ANIMATION_FORMATS,
    stem: str = "dream",
) -> Encoded:
    """The best file that fits in ``max_bytes``: the first of ``formats`` (MP4 only when PyAV is
    installed) at the best quality that fits, else the next; when none fits, smaller frames
    (down to half the sides), then every 2nd frame, and so on; `PictureTooLarge` if nothing does.
    """
    usable = [f.upper() for f in formats if f.upper() != "MP4" or video_available()]
    if not usable:
        raise UnsupportedFormat("None of the animation formats asked for can be written here.")
    full_side = max(animation.size)
    current = animation
    while True:
        smallest: int | None = None
        for fmt in usable:
            data, size = _fit_format(current, fmt, max_bytes)
            if data is not None:
                return Encoded(data=data, format=fmt, filename=f"{stem}.{_EXTENSIONS[fmt]}")
            smallest = size if smallest is None else min(smallest, size)
        assert max_bytes is not None and smallest is not None
        smaller = _smaller(current, animation, full_side, need=max_bytes / smallest)
        if smaller is None:
            raise PictureTooLarge(
                f"The animation cannot be made small enough to fit in {max_bytes:,} bytes."
            )
        current = smaller


def _fit_format(animation: Animation, fmt: str, max_bytes: int | None) -> tuple[bytes | None, int]:
    """The best quality of ``fmt`` within ``max_bytes``, or None and the smallest size it made."""
    ladder = {"GIF": _GIF_LADDER, "WEBP": _WEBP_LADDER, "MP4": _MP4_LADDER}[fmt]
    if max_bytes is None:
        return encode_as(animation, fmt, quality=ladder[-1]), 0
    lowest = encode_as(animation, fmt, quality=ladder[0])
    if len(lowest) > max_bytes:
        return None, len(lowest)
    for quality in reversed(ladder[1:]):
        data = encode_as(animation, fmt, quality=quality)
        if len(data) <= max_bytes:
            return data, len(data)
    return lowest, len(lowest)


def _smaller(
    current: Animation, original: Animation, full_side: int, *, need: float
) -> Animation | None:
    """The next thing to try: smaller sides while above half the original, then fewer frames."""
    # file size goes roughly with the pixel count: aim a little under what the ratio asks
    factor = min(0.9, max(0.5, 0.95 * math.sqrt(need)))
    side = max(current.size)
    if side * factor >= max(full_side / 2, _MIN_SIDE):
        return original.every(_step(current, original)).scaled(side * factor / full_side)
    step = _step(current, original) * 2
    if len(original.frames) // step >= 2:
        return original.every(step).scaled(side / full_side)
    if side * factor >= _MIN_SIDE:  # two frames left: only smaller sides can help now
        return original.every(step // 2).scaled(side * factor / full_side)
    return None


def _step(current: Animation, original: Animation) -> int:
    return max(1, round(len(original.frames) / len(current.frames)))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
