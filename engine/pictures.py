"""Pictures in and out: decode untrusted bytes to an upright RGB picture plus alpha, and encode
results to PNG, WebP or JPEG within a byte budget, with the metadata stripped.

Every picture a member hands in goes through one of three doors, all with the same checks:
`decode` (the first frame), `engine.frames.probe_animation` (headers only) and
`engine.frames.decode_animation` (every frame). They

- open only PNG, JPEG, WebP and GIF, told apart by their first bytes, never by name;
- read every frame's size, and the size of the canvas it lands on (a GIF's later frames can grow
  it), from the headers before any pixel is decoded, and refuse any over ``max_pixels``
  (default 40 megapixels) or ``DecodeBudget.max_dimension`` a side (30,000), or a file packing
  more than 1,000 pixels into each of its bytes once past a megapixel (a decompression bomb);
- estimate the peak memory from sizes, modes and format before decoding (16-bit, CMYK, palette
  with alpha, progressive JPEG and WebP's decoder cost extra) and refuse over
  ``DecodeBudget.max_memory`` (512 MiB);
- count the canvas pixels unpacked over all frames, kept or skipped, against
  ``DecodeBudget.max_work`` (400 megapixels: about 3 s at the ~130 megapixels a second that
  Pillow composites GIF frames on one core of the 2-core machine);
- stop with `DecodeTimeout` once ``DecodeBudget.max_seconds`` (5 s) have passed: the deadline is
  checked on every read of the file, between frames and between steps;
- turn anything Pillow raises on hostile bytes into a `PictureError` with words for a person.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageCms, ImageFile, ImageOps

from engine.errors import (
    DecodeTimeout,
    DecompressionBomb,
    DreamError,
    EmptyPicture,
    NotAPicture,
    ParamsError,
    PictureTooLarge,
    TruncatedPicture,
    UnsupportedFormat,
)

__all__ = [
    "ACCEPTED_CONTENT_TYPES",
    "ACCEPTED_FORMATS",
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DecodeBudget",
    "Encoded",
    "Picture",
    "check_content_type",
    "check_dimensions",
    "decode",
    "encode",
    "put_alpha",
]

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
ACCEPTED_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 25 * 1024 * 1024

# A file is a decompression bomb, rather than an honest picture that is too large, when it claims
# more than _HARD_MAX_PIXELS (Pillow's own default ceiling, which Pillow enforces before we can
# see the size anyway) or, past _BOMB_FLOOR_PIXELS, packs more than _BOMB_PIXELS_PER_BYTE pixels
# into each byte of the file. Deflate cannot squeeze 8-bit pixels much past ~1000:1 and camera
# photos carry 1-20 pixels a byte, so only crafted or degenerate files (a bare header, acres of
# one colour at one bit a pixel) get there; below the floor a picture costs too little to matter.
_HARD_MAX_PIXELS = 178_956_970
_BOMB_PIXELS_PER_BYTE = 1_000
_BOMB_FLOOR_PIXELS = 1_000_000

# Bytes a pixel, for the memory estimate. Pillow keeps these modes in 1 or 2 bytes a pixel and
# every other one (RGB included) in 4.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_CONVERTED_BYTES = 4  # the RGB(A) copy a conversion, turn or colour profile makes
_SIXTEEN_BIT_BYTES = 6  # its 32-bit copy, 8-bit grey and alpha (see _sixteen_bit_to_rgb)
_WEBP_DECODER_BYTES = 8  # libwebp's decoder holds two RGBA canvases from the moment it opens
_ORIENTATION = 0x0112

_SEND = "send PNG, JPEG, WebP or GIF"
# "image/jpg" is not a registered type, but some clients send it.
_CONTENT_TYPE_ALIASES = {"image/jpg": "image/jpeg"}
# Phones write JPEGs with a depth map or preview appended; Pillow calls those MPO.
_FORMAT_ALIASES = {"MPO": "JPEG"}
# Formats Pillow cannot open but people often send, named so the refusal can say what they sent.
_UNOPENABLE_MAGIC = (
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (0, b"<svg", "SVG"),
)
# What Pillow raises on damaged data in the steps whose failure is not fatal (EXIF, profiles);
# on the way in, `untrusted` turns anything at all into a PictureError.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    zlib.error,
)

_QUALITIES = (90, 80, 70, 60, 50)
_SCALE_STEP = 0.8
_MIN_SIDE = 64
_SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True, kw_only=True)
class DecodeBudget:
    """What unpacking one untrusted file may cost; the defaults suit a shared 2-core machine."""

    max_dimension: int = 30_000  # longest side of any frame or canvas, in pixels
    max_work: int = 400_000_000  # canvas pixels unpacked over all frames, kept or skipped
    max_memory: int = 512 * 1024 * 1024  # estimated peak bytes while decoding
    max_seconds: float = 5.0  # wall-clock seconds for one call

    def __post_init__(self) -> None:
        if min(self.max_dimension, self.max_work, self.max_memory) < 1 or self.max_seconds <= 0:
            raise ParamsError("Every decoding limit must be above zero.")


DEFAULT_BUDGET = DecodeBudget()


@dataclass(frozen=True)
class Picture:
    """A decoded picture: upright RGB pixels, the alpha channel if any pixel is see-through."""

    rgb: Image.Image  # mode RGB
    alpha: Image.Image | None  # mode L, same size; None when fully opaque
    source_format: str  # one of ACCEPTED_FORMATS
    frames: int  # frames in the file (animated GIF/WebP/PNG); only the first is decoded

    def __post_init__(self) -> None:
        if self.rgb.mode != "RGB":
            raise ValueError(f"rgb must be mode RGB, not {self.rgb.mode}")
        if self.alpha is not None and (self.alpha.mode != "L" or self.alpha.size != self.rgb.size):
            raise ValueError("alpha must be mode L and the same size as rgb")


@dataclass(frozen=True)
class Encoded:
    """An encoded picture ready to upload."""

    data: bytes
    format: str  # "PNG", "JPEG" or "WEBP"
    filename: str  # f"{stem}.{ext}"


@dataclass(frozen=True)
class Layout:
    """What a file's headers say, read before any pixel is decoded."""

    format: str  # one of ACCEPTED_FORMATS
    size: tuple[int, int]  # the canvas the first frame lands on
    frames: int
    canvas: tuple[int, int]  # the largest canvas any frame lands on (later GIF frames grow it)
    work: int  # canvas pixels unpacked to go through every frame
    mode: str  # Pillow's mode for the first frame
    progressive: bool  # a progressive JPEG, which holds every coefficient while it decodes


class DecodeMeter:
    """One call's spending against its `DecodeBudget`: time since it began, pixels unpacked."""

    def __init__(self, budget: DecodeBudget, size_bytes: int) -> None:
        self.budget = budget
        self.size_bytes = size_bytes
        self.work = 0
        self._deadline = time.monotonic() + budget.max_seconds

    def check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise DecodeTimeout(
                f"This picture took more than {_number(self.budget.max_seconds)} seconds to "
                "unpack and was stopped; please send a smaller or simpler one."
            )

    def check_size(
        self, size: tuple[int, int], *, max_pixels: int, what: str = "This picture"
    ) -> None:
        width, height = size
        _check_pixels(width, height, size_bytes=self.size_bytes, max_pixels=max_pixels, what=what)
        if max(width, height) > self.budget.max_dimension:
            raise PictureTooLarge(
                f"{what} is {width:,}×{height:,} pixels; no side may be longer than "
                f"{self.budget.max_dimension:,} pixels. Please send a smaller one."
            )

    def check_memory(self, size: int) -> None:
        if size > self.budget.max_memory:
            raise PictureTooLarge(
                f"Unpacking this picture would take about {_human_bytes(size)} of memory; the "
                f"limit is {_human_bytes(self.budget.max_memory)}. Please send a smaller one."
            )

    def check_work(self, pixels: int, frames: int) -> None:
        """Refuse ``pixels`` to unpack over ``frames`` frames when over the work budget."""
        if pixels > self.budget.max_work:
            raise PictureTooLarge(
                f"Going through the {frames:,} frames of this picture means unpacking "
                f"{_megapixels(pixels)}; the limit is {_megapixels(self.budget.max_work)}. "
                "Please send a shorter or smaller one."
            )

    def spend(self, pixels: int, frames: int = 1) -> None:
        """Count ``pixels`` unpacked (the ``frames``-th frame so far); over budget, stop."""
        self.check_time()
        self.work += pixels
        self.check_work(self.work, frames)


def check_content_type(content_type: str | None) -> None:
    """Refuse an attachment whose declared type is not a picture we take."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    kind = _CONTENT_TYPE_ALIASES.get(kind, kind)
    if kind in ACCEPTED_CONTENT_TYPES:
        return
    if not kind:
        raise UnsupportedFormat(f"This file is not a picture; {_SEND}.")
    if kind.startswith("image/"):
        name = kind.removeprefix("image/").removeprefix("x-").split("+")[0].upper()
        raise UnsupportedFormat(f"{name} pictures are not supported; {_SEND}.")
    raise UnsupportedFormat(f"This file ({kind}) is not a picture; {_SEND}.")


def check_dimensions(
    *,
    width: int | None,
    height: int | None,
    size_bytes: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> None:
    """Refuse a picture from its attachment metadata, before downloading it."""
    if width is None or height is None or width <= 0 or height <= 0:
        raise NotAPicture(f"This file is not a picture; {_SEND}.")
    if size_bytes is not None and size_bytes > max_bytes:
        raise PictureTooLarge(
            f"This file is {_human_bytes(size_bytes)}; the limit is {_human_bytes(max_bytes)}."
        )
    _check_pixels(width, height, size_bytes=size_bytes, max_pixels=max_pixels)


def decode(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
    budget: DecodeBudget = DEFAULT_BUDGET,
) -> Picture:
    """Decode the first frame of a PNG, JPEG, WebP or GIF into an upright RGB picture and alpha.

    Sizes, memory and work are checked from the headers before any pixel is decoded (see the
    module's docstring), and the picture is scaled down so that its longest side is at most
    ``max_side``. Anything wrong with the bytes raises a `PictureError`.
    """
    if not data:
        raise EmptyPicture(f"The file is empty; {_SEND}.")
    meter = DecodeMeter(budget, len(data))
    with untrusted():
        picture, _ = decode_first(data, meter, max_pixels=max_pixels, max_side=max_side)
    return picture


def put_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """Join RGB pixels and an alpha channel (stretched to fit) into one RGBA picture."""
    rgb = rgb if rgb.mode == "RGB" else rgb.convert("RGB")
    if alpha is None:
        return rgb
    if alpha.size != rgb.size:
        alpha = alpha.resize(rgb.size, Image.Resampling.LANCZOS)
    rgba = rgb.convert("RGBA")
    rgba.putalpha(alpha if alpha.mode == "L" else alpha.convert("L"))
    return rgba


def encode(
    rgb: Image.Image,
    *,
    alpha: Image.Image | None = None,
    max_bytes: int | None = None,
    stem: str = "dream",
) -> Encoded:
    """Encode as PNG if it fits in ``max_bytes``, else as WebP or JPEG at falling quality and
    then at smaller sizes; metadata (EXIF, text, colour profiles) is never written."""
    if alpha is not None and alpha.getextrema() == (255, 255):
        alpha = None
    image = put_alpha(rgb, alpha).copy()
    image.info = {}  # Pillow's savers copy some of info (profiles, transparency) into the file
    png = _save(image, "PNG")
    if max_bytes is None or len(png) <= max_bytes:
        return Encoded(data=png, format="PNG", filename=f"{stem}.png")
    return _encode_lossy(image, max_bytes=max_bytes, stem=stem)


# --- decoding -------------------------------------------------------------------------------


@contextmanager
def untrusted() -> Iterator[None]:
    """Pillow quietened, and whatever it raises on hostile bytes made a `PictureError`."""
    try:
        with _quiet_pillow():
            yield
    except DreamError:
        raise
    except Image.DecompressionBombError:
        raise _bomb(f"more than {_megapixels(_HARD_MAX_PIXELS)}") from None
    except MemoryError:
        raise PictureTooLarge(
            "This picture needs more memory to unpack than there is here; "
            "please send a smaller one."
        ) from None
    except NotImplementedError as error:
        raise UnsupportedFormat(
            "This picture uses a feature of its format that cannot be read here; "
            "save it anew as PNG or JPEG and send it again."
        ) from error
    # Pillow's plugins raise almost anything on crafted bytes (struct.error, IndexError,
    # RuntimeError, ...): none of it is for the person beyond "this file is damaged".
    except Exception as error:
        raise _truncated() from error


@contextmanager
def _quiet_pillow() -> Iterator[None]:
    # Pillow warns about pictures between its two bomb limits (we check sizes ourselves) and
    # about odd but harmless files (corrupt EXIF, malformed MPO); neither is for the person, and
    # pytest turns warnings into errors. catch_warnings restores the filters on exit; it is not
    # thread-safe before Python 3.14, but a race can only drop or keep these ignore filters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
        yield


def decode_first(
    data: bytes, meter: DecodeMeter, *, max_pixels: int, max_side: int | None
) -> tuple[Picture, Layout]:
    """`decode`'s work, within ``meter``'s budget and inside `untrusted`; also the layout."""
    im, layout = read_layout(data, meter, max_pixels=max_pixels)
    with im:
        target = _fit(im.size, max_side)
        im.draft(None, target)  # JPEG only: decode at 1/2, 1/4 or 1/8 size, still >= target
        meter.check_memory(_first_frame_bytes(layout, im.size, target))
        meter.spend(im.width * im.height)
        im.load()  # LOAD_TRUNCATED_IMAGES stays False (Pillow's default): cut-off files fail
        meter.check_time()
        loaded = im.size
        image = _upright(im)
        if image.size != loaded:  # EXIF turned it a quarter
            target = (target[1], target[0])
        image = _shrink(_to_rgb_or_rgba(image, target), target)
        meter.check_time()
        if image is im:
            image = im.copy()  # closing im would leave it unusable
    rgb, alpha = _split_alpha(image)
    source_format = _FORMAT_ALIASES.get(im.format or "", im.format or "")
    return Picture(rgb=rgb, alpha=alpha, source_format=source_format, frames=layout.frames), layout


def read_layout(
    data: bytes, meter: DecodeMeter, *, max_pixels: int
) -> tuple[ImageFile.ImageFile, Layout]:
    """The file opened (headers read, no pixel decoded) and what its headers say, every frame's
    size checked; call inside `untrusted`."""
    fmt = _sniff(data)
    if fmt is None:
        raise _refusal(data, meter)
    later = "A frame of this animation"
    if fmt == "GIF":
        # Pillow grows the canvas and fills a frame's disposal area as it seeks to the frame,
        # before we could see either: the frames' headers are walked here first.
        first, canvas, frames, work = _gif_frames(data, meter)
        meter.check_size(first, max_pixels=max_pixels)
        meter.check_size(canvas, max_pixels=max_pixels, what=later)
    elif fmt == "WEBP":
        header = _webp_size(data)
        if header is None:
            raise _truncated()
        meter.check_size(header, max_pixels=max_pixels)
        meter.check_memory(_webp_bytes(header))  # libwebp allocates as Pillow opens the file
    im = _open(data, fmt, meter)
    meter.check_size(im.size, max_pixels=max_pixels)
    if fmt != "GIF":
        first = canvas = im.size
        frames = _count_frames(im)
        work = frames * im.width * im.height
    progressive = bool(im.info.get("progressive") or im.info.get("progression"))
    layout = Layout(fmt, first, frames, canvas, work, im.mode, progressive)
    return im, layout


def _open(data: bytes, fmt: str, meter: DecodeMeter) -> ImageFile.ImageFile:
    return Image.open(_TimedBytes(data, meter), formats=[fmt])


class _TimedBytes(io.BytesIO):
    """The file as Pillow reads it, the deadline checked on every read: Pillow decodes a frame
    in blocks of 64 KB, so a slow frame stops within one block."""

    def __init__(self, data: bytes, meter: DecodeMeter) -> None:
        super().__init__(data)
        self._meter = meter

    def read(self, size: int | None = -1, /) -> bytes:
        self._meter.check_time()
        return super().read(size)


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _gif_frames(
    data: bytes, meter: DecodeMeter
) -> tuple[tuple[int, int], tuple[int, int], int, int]:
    """The canvas after the first frame, the largest canvas, the frames and the canvas pixels
    of all frames, from the GIF's blocks: Pillow's own walk, without touching a pixel."""
    if len(data) < 13:
        raise _truncated()
    width, height = struct.unpack_from("<HH", data, 6)
    flags = data[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    first: tuple[int, int] | None = None
    frames = work = 0
    end = len(data)
    while at < end:
        introducer = data[at]
        at += 1
        if introducer == 0x3B:  # trailer
            break
        if introducer == 0x21:  # extension: label, then sub-blocks
            at = _skip_sub_blocks(data, at + 1, meter)
        elif introducer == 0x2C:  # image descriptor
            if at + 9 > end:
                break
            left, top, frame_width, frame_height = struct.unpack_from("<4H", data, at)
            packed = data[at + 8]
            at += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)  # + LZW code size
            # like Pillow: a frame reaching past the canvas grows it, for it and all after
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            first = first or (width, height)
            frames += 1
            work += width * height
            at = _skip_sub_blocks(data, at, meter)
        # any other byte Pillow skips, one at a time
    if first is None:
        raise _truncated()
    return first, (width, height), frames, work


def _skip_sub_blocks(data: bytes, at: int, meter: DecodeMeter) -> int:
    end = len(data)
    blocks = 0
    while at < end and data[at]:
        at += data[at] + 1
        blocks += 1
        if not blocks % 65536:  # a file of 1-byte blocks takes seconds to walk in Python
            meter.check_time()
    return at + 1


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas from a WebP's first chunk (VP8, VP8L or VP8X), as Pillow reads it."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8X" and len(data) >= 30:
        return (
            int.from_bytes(data[24:27], "little") + 1,
            int.from_bytes(data[27:30], "little") + 1,
        )
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _webp_bytes(size: tuple[int, int]) -> int:
    return (_WEBP_DECODER_BYTES + 4 + _CONVERTED_BYTES) * size[0] * size[1]


def _first_frame_bytes(layout: Layout, decoded: tuple[int, int], target: tuple[int, int]) -> int:
    """The peak memory of decoding the first frame at ``decoded`` and making it RGB at
    ``target``: the decoded frame, one converted copy of it, the result."""
    pixels = decoded[0] * decoded[1]
    full = layout.size[0] * layout.size[1]
    per_pixel = _STORED_BYTES.get(layout.mode, 4) + (
        _SIXTEEN_BIT_BYTES if layout.mode in _SIXTEEN_BIT else _CONVERTED_BYTES
    )
    total = per_pixel * pixels
    if target != decoded:  # else the converted copy is the result
        total += 4 * target[0] * target[1]
    if layout.format == "WEBP":
        total += _WEBP_DECODER_BYTES * full
    if layout.progressive:  # 2 bytes a coefficient, 64 coefficients to an 8×8 block, every band
        total += 2 * len(layout.mode) * full
    return total


def _refusal(
    data: bytes, meter: DecodeMeter
) -> UnsupportedFormat | NotAPicture | DecompressionBomb:
    """The error for bytes that are not one of our formats: name the format if we can tell it."""
    try:
        name = _format_name(data, meter)
    except Image.DecompressionBombError:
        return _bomb(f"more than {_megapixels(_HARD_MAX_PIXELS)}")
    if name is None:
        return NotAPicture(f"This file is not a picture; {_SEND}.")
    return UnsupportedFormat(f"{name} pictures are not supported; {_SEND}.")


def _format_name(data: bytes, meter: DecodeMeter) -> str | None:
    for offset, magic, name in _UNOPENABLE_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    try:
        with Image.open(_TimedBytes(data, meter)) as im:  # only reads the header, to name it
            return im.format
    except (Image.DecompressionBombError, DreamError):
        raise
    # some plugins fail on their own formats (NotImplementedError for some DDS files): unnamed
    except Exception:
        return None


def _check_pixels(
    width: int,
    height: int,
    *,
    size_bytes: int | None,
    max_pixels: int,
    what: str = "This picture",
) -> None:
    pixels = width * height
    size = f"{width}×{height} pixels ({_megapixels(pixels)})"
    packed = (
        size_bytes is not None
        and pixels > _BOMB_FLOOR_PIXELS
        and pixels > _BOMB_PIXELS_PER_BYTE * size_bytes
    )
    if pixels > _HARD_MAX_PIXELS or packed:
        raise _bomb(size)
    if pixels > max_pixels:
        raise PictureTooLarge(
            f"{what} is {size}; the limit is {_megapixels(max_pixels)}. Please send a smaller one."
        )


def _bomb(size: str) -> DecompressionBomb:
    return DecompressionBomb(
        f"This file claims to unpack into {size}, far more than its size can honestly hold "
        "or this bot can take; it looks like a 'decompression bomb' and was refused."
    )


def _truncated() -> TruncatedPicture:
    return TruncatedPicture(
        "This picture seems cut off or damaged; try sending it again, or save it anew first."
    )


def _count_frames(im: ImageFile.ImageFile) -> int:
    if im.format in ("JPEG", "MPO"):
        return 1  # an MPO's extra images are depth maps or previews, not animation frames
    return int(getattr(im, "n_frames", 1))  # PNG and WebP: from the header, nothing decoded


def _fit(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """``size`` scaled so that its longest side is at most ``max_side``, aspect kept."""
    width, height = size
    longest = max(width, height)
    if max_side is None or longest <= max_side:
        return size
    return (
        max(1, round(width * max_side / longest)),
        max(1, round(height * max_side / longest)),
    )


def _upright(im: Image.Image) -> Image.Image:
    """``im`` turned as its EXIF orientation says; ``im`` itself when it is upright already."""
    try:
        if im.getexif().get(_ORIENTATION, 1) in (1, None):
            return im
        return ImageOps.exif_transpose(im)
    except DECODE_ERRORS:
        return im  # unreadable EXIF: show the picture as stored


def _to_rgb_or_rgba(im: Image.Image, target: tuple[int, int]) -> Image.Image:
    if im.mode in _SIXTEEN_BIT:
        return _sixteen_bit_to_rgb(im, target)
    im = _to_srgb(im)
    if im.mode in ("RGB", "RGBA") and "transparency" not in im.info:
        return im
    return im.convert("RGBA" if im.has_transparency_data else "RGB")


@cache
def _top_bytes() -> tuple[int, ...]:
    """From 16-bit grey to 8 bits: each value's top byte."""
    return tuple(value >> 8 for value in range(65536))


def _sixteen_bit_to_rgb(im: Image.Image, target: tuple[int, int]) -> Image.Image:
    # Pillow's own conversion clips 16-bit grey at 255 instead of scaling it; a lookup table on
    # 32-bit grey scales it (and clamps out-of-range values) without numpy's 8-byte copies, and
    # the grey is shrunk before it becomes RGB, 4 bytes a pixel.
    wide = im if im.mode == "I" else im.convert("I")
    transparent = im.info.get("transparency")
    alpha = None
    if isinstance(transparent, int) and 0 <= transparent < 65536:
        opaque = [255] * 65536
        opaque[transparent] = 0
        alpha = _shrink(wide.point(opaque, "L"), target)
    grey = _shrink(wide.point(list(_top_bytes()), "L"), target)
    del wide
    rgb = grey.convert("RGB")
    if alpha is not None:
        rgb.putalpha(alpha)
    return rgb


def _to_srgb(im: Image.Image) -> Image.Image:
    # Encoded results carry no colour profile, so pixels must already be sRGB (phones shoot
    # Display P3; print JPEGs are CMYK with a profile).
    profile = im.info.get("icc_profile")
    if not profile or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(
            im, source, _SRGB, outputMode="RGBA" if im.mode == "RGBA" else "RGB"
        )
    except (ImageCms.PyCMSError, *DECODE_ERRORS):
        return im  # a broken profile: the pixels are still usable as they are
    return converted if converted is not None else im


def _shrink(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    if im.size == size:
        return im
    # reducing_gap lets Pillow box-reduce big pictures first: much faster, same look.
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _split_alpha(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    im.info = {}  # the file's metadata (EXIF, profile, comments) has been applied or is not ours
    if im.mode == "RGB":
        return im, None
    alpha = im.getchannel("A")
    return im.convert("RGB"), None if alpha.getextrema() == (255, 255) else alpha


# --- encoding -------------------------------------------------------------------------------


def _encode_lossy(image: Image.Image, *, max_bytes: int, stem: str) -> Encoded:
    scale = 1.0
    scaled = image
    while max(scaled.size) >= _MIN_SIDE:
        for fmt, ext in (("WEBP", "webp"), ("JPEG", "jpg")):
            data = _best_quality_within(scaled, fmt, max_bytes)
            if data is not None:
                return Encoded(data=data, format=fmt, filename=f"{stem}.{ext}")
        scale *= _SCALE_STEP
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        scaled = image.resize(size, Image.Resampling.LANCZOS)
    raise PictureTooLarge(
        f"The finished picture cannot be made small enough to fit in {_human_bytes(max_bytes)}."
    )


def _best_quality_within(image: Image.Image, fmt: str, max_bytes: int) -> bytes | None:
    # Size falls with quality, so if the lowest quality does not fit, no other will.
    lowest = _save(image, fmt, quality=_QUALITIES[-1])
    if len(lowest) > max_bytes:
        return None
    for quality in _QUALITIES[:-1]:
        data = _save(image, fmt, quality=quality)
        if len(data) <= max_bytes:
            return data
    return lowest


def _save(image: Image.Image, fmt: str, *, quality: int | None = None) -> bytes:
    if fmt == "JPEG" and image.mode == "RGBA":
        image = _on_white(image)
    buffer = io.BytesIO()
    if quality is None:
        image.save(buffer, fmt)
    else:
        image.save(buffer, fmt, quality=quality)
    return buffer.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGB", image.size, "white")
    background.paste(image, mask=image.getchannel("A"))
    return background


# --- words for people -----------------------------------------------------------------------


def _megapixels(pixels: int) -> str:
    return f"{_number(pixels / 1_000_000)} megapixels"


def _human_bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{_number(size / (1024 * 1024))} MB"
    if size >= 1024:
        return f"{_number(size / 1024)} KB"
    return f"{size} bytes"


def _number(value: float) -> str:
    """1 decimal at most, none when whole: 40 -> "40", 41.47 -> "41.5", 2500 -> "2,500"."""
    rounded = round(value, 1)
    return f"{rounded:,.0f}" if rounded == int(rounded) else f"{rounded:,.1f}"
