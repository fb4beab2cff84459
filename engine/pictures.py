"""Pictures in and out: decode untrusted bytes to an upright RGB picture plus alpha, and encode
results to PNG, WebP or JPEG within a byte budget, with the metadata stripped."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps

from engine.errors import (
    DecompressionBomb,
    EmptyPicture,
    NotAPicture,
    PictureTooLarge,
    TruncatedPicture,
    UnsupportedFormat,
)

__all__ = [
    "ACCEPTED_CONTENT_TYPES",
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
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

# A file is a decompression bomb, rather than an honest picture that is too large, when it is over
# the pixel budget AND either claims more than _HARD_MAX_PIXELS (Pillow's own default ceiling,
# which Pillow enforces before we can see the size anyway) or packs more than
# _BOMB_PIXELS_PER_BYTE pixels into each byte of the file. Deflate cannot squeeze 8-bit pixels
# much past ~1000:1 and camera photos carry 1-20 pixels a byte, so only crafted or degenerate
# files (a bare header, acres of one colour at one bit a pixel) get there.
_HARD_MAX_PIXELS = 178_956_970
_BOMB_PIXELS_PER_BYTE = 1_000

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
# Pillow signals damaged data with any of these, depending on the plugin and the damage.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)

_QUALITIES = (90, 80, 70, 60, 50)
_SCALE_STEP = 0.8
_MIN_SIDE = 64
_SRGB = ImageCms.createProfile("sRGB")


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
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int | None = None
) -> Picture:
    """Decode the first frame of a PNG, JPEG, WebP or GIF into an upright RGB picture and alpha.

    Sizes are checked from the header before any pixel is decoded; the picture is scaled down
    so that its longest side is at most ``max_side``.
    """
    if not data:
        raise EmptyPicture(f"The file is empty; {_SEND}.")
    with _quiet_pillow(), _open(data) as im:
        _check_pixels(*im.size, size_bytes=len(data), max_pixels=max_pixels)
        frames = _count_frames(im)
        target = _fit(im.size, max_side)
        im.draft(None, target)  # JPEG only: decode at 1/2, 1/4 or 1/8 size, still >= target
        _load(im)
        loaded = im.size
        source_format = _FORMAT_ALIASES.get(im.format or "", im.format or "")
        image = _upright(im)  # a plain copy: closing im would leave it unusable
    if image.size != loaded:  # EXIF turned it a quarter
        target = (target[1], target[0])
    rgb, alpha = _split_alpha(_shrink(_to_rgb_or_rgba(image), target))
    return Picture(rgb=rgb, alpha=alpha, source_format=source_format, frames=frames)


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
def _quiet_pillow() -> Iterator[None]:
    # Pillow warns about pictures between its two bomb limits (we check sizes ourselves) and
    # about odd but harmless files (corrupt EXIF, malformed MPO); neither is for the person, and
    # pytest turns warnings into errors. catch_warnings restores the filters on exit; it is not
    # thread-safe before Python 3.14, but a race can only drop or keep these ignore filters.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
        yield


def _open(data: bytes) -> ImageFile.ImageFile:
    sniffed = _sniff(data)
    if sniffed is None:
        raise _refusal(data)
    try:
        return Image.open(io.BytesIO(data), formats=[sniffed])
    except Image.DecompressionBombError:
        raise _bomb(f"more than {_megapixels(_HARD_MAX_PIXELS)}") from None
    except DECODE_ERRORS as error:
        raise _truncated() from error


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


def _refusal(data: bytes) -> UnsupportedFormat | NotAPicture | DecompressionBomb:
    """The error for bytes that are not one of our formats: name the format if we can tell it."""
    try:
        name = _format_name(data)
    except Image.DecompressionBombError:
        return _bomb(f"more than {_megapixels(_HARD_MAX_PIXELS)}")
    if name is None:
        return NotAPicture(f"This file is not a picture; {_SEND}.")
    return UnsupportedFormat(f"{name} pictures are not supported; {_SEND}.")


def _format_name(data: bytes) -> str | None:
    for offset, magic, name in _UNOPENABLE_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    try:
        with Image.open(io.BytesIO(data)) as im:  # only reads the header, to name the format
            return im.format
    except DECODE_ERRORS:
        return None


def _check_pixels(width: int, height: int, *, size_bytes: int | None, max_pixels: int) -> None:
    pixels = width * height
    if pixels <= max_pixels:
        return
    size = f"{width}×{height} pixels ({_megapixels(pixels)})"
    ratio_absurd = size_bytes is not None and pixels > _BOMB_PIXELS_PER_BYTE * size_bytes
    if pixels > _HARD_MAX_PIXELS or ratio_absurd:
        raise _bomb(size)
    raise PictureTooLarge(
        f"This picture is {size}; the limit is {_megapixels(max_pixels)}. "
        "Please send a smaller one."
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
    try:
        return int(getattr(im, "n_frames", 1))  # GIF walks its blocks without decoding them
    except DECODE_ERRORS as error:
        raise _truncated() from error


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


def _load(im: ImageFile.ImageFile) -> None:
    # LOAD_TRUNCATED_IMAGES must stay False (Pillow's default), or cut-off files load silently.
    try:
        im.load()
    except DECODE_ERRORS as error:
        raise _truncated() from error


def _upright(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except DECODE_ERRORS:
        return im.copy()  # unreadable EXIF: show the picture as stored


def _to_rgb_or_rgba(im: Image.Image) -> Image.Image:
    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        return _sixteen_bit_to_rgb(im)
    im = _to_srgb(im)
    if im.mode in ("RGB", "RGBA") and "transparency" not in im.info:
        return im
    return im.convert("RGBA" if im.has_transparency_data else "RGB")


def _sixteen_bit_to_rgb(im: Image.Image) -> Image.Image:
    # Pillow's own conversion clips 16-bit grey at 255 instead of scaling it.
    values = np.asarray(im).astype(np.int64)
    grey = Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8)).convert("RGB")
    transparent = im.info.get("transparency")
    if not isinstance(transparent, int):
        return grey
    grey.putalpha(Image.fromarray(np.where(values == transparent, 0, 255).astype(np.uint8)))
    return grey


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
