"""Tests for decoding untrusted picture bytes and encoding results within a byte budget."""

import contextlib
import io
import random
import struct
import time
import warnings
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageFile, PngImagePlugin

from engine import pictures
from engine.errors import (
    DecodeTimeout,
    DecompressionBomb,
    EmptyPicture,
    NotAPicture,
    ParamsError,
    PictureError,
    PictureTooLarge,
    TruncatedPicture,
    UnsupportedFormat,
)
from engine.pictures import (
    ACCEPTED_CONTENT_TYPES,
    DEFAULT_BUDGET,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DecodeBudget,
    check_content_type,
    check_dimensions,
    decode,
    encode,
    put_alpha,
)

CHELSEA = Path(__file__).resolve().parents[1] / "data" / "chelsea.png"
ORIENTATION = 0x0112
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chelsea() -> Image.Image:
    with Image.open(CHELSEA) as im:
        return im.convert("RGB")


def _noise(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Incompressible pixels, so encoded sizes are large and predictable."""
    size = width * height * len(mode)
    return Image.frombytes(mode, (width, height), random.Random(size).randbytes(size))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int, *, rows: int = 0) -> bytes:
    """A 1-bit PNG of the given size whose first ``rows`` rows (all black) are really there.

    rows == height gives a complete, honest and extremely compressible picture; fewer rows
    give a header that lies about how much data follows.
    """
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row * min(1000, rows - done)) for done in range(0, rows, 1000))
    body += packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def _forbid_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)


# --- refusing bad input ------------------------------------------------------------------------


def test_zero_bytes_are_an_empty_picture() -> None:
    """Zero bytes raise EmptyPicture."""
    with pytest.raises(EmptyPicture):
        decode(b"")


def test_text_is_not_a_picture() -> None:
    """Bytes of no known format raise NotAPicture."""
    with pytest.raises(NotAPicture, match="not a picture"):
        decode(b"Hello! This is a shopping list, not a picture.\n" * 20)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM"])
def test_other_picture_formats_are_refused_by_name(fmt: str) -> None:
    """A real picture in a format we do not take raises UnsupportedFormat naming it."""
    data = _save(Image.new("RGB", (16, 16), RED), fmt)
    with pytest.raises(UnsupportedFormat, match=f"^{fmt} pictures are not supported; send PNG"):
        decode(data)


def test_heic_is_refused_by_name() -> None:
    """An iPhone HEIC file, which Pillow cannot open, is still named in the refusal."""
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 100
    with pytest.raises(UnsupportedFormat, match=r"^HEIC pictures"):
        decode(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_cut_off_file_is_truncated(fmt: str) -> None:
    """A file cut in half raises TruncatedPicture, never loads with grey or black filler."""
    data = _save(_chelsea(), fmt)
    with pytest.raises(TruncatedPicture, match="cut off or damaged"):
        decode(data[: len(data) // 2])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_cut_off_header_is_truncated(fmt: str) -> None:
    """A file cut inside its header raises TruncatedPicture, not NotAPicture."""
    data = _save(Image.new("RGB", (8, 8), RED), fmt)
    with pytest.raises(TruncatedPicture):
        decode(data[:20])


def test_truncated_images_are_not_loaded_silently() -> None:
    """Pillow's global LOAD_TRUNCATED_IMAGES stays off, or cut-off files would pass."""
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_header_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 60000×60000 header on a tiny file is a DecompressionBomb, refused instantly."""
    _forbid_pixel_decoding(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(DecompressionBomb, match="decompression bomb"):
        decode(_png_claiming(60_000, 60_000))
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("side", [8_000, 12_000])
def test_compressible_png_is_a_bomb(side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete but absurdly compressible PNG over budget is a bomb, with no Pillow warning."""
    data = _png_claiming(side, side, rows=side)  # 12000² lies between Pillow's two bomb limits
    _forbid_pixel_decoding(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DecompressionBomb, match=f"{side}×{side} pixels"):
            decode(data)


def test_too_many_pixels_is_too_large_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """An honest picture over the pixel budget raises PictureTooLarge without decoding it."""
    data = _save(_chelsea(), "JPEG")
    _forbid_pixel_decoding(monkeypatch)
    with pytest.raises(PictureTooLarge, match=r"451×300 pixels \(0.1 megapixels\)"):
        decode(data, max_pixels=100_000)


def test_pixel_limits_are_said_in_megapixels() -> None:
    """The refusal states the limit in megapixels a person can read."""
    with pytest.raises(PictureTooLarge, match="the limit is 40 megapixels"):
        check_dimensions(width=8000, height=6000, size_bytes=10_000_000)


# --- Discord attachment metadata ---------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    ["image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif", "IMAGE/JPEG; charset=x"],
)
def test_accepted_content_types(content_type: str) -> None:
    """Picture content types we take pass, whatever their case or parameters."""
    check_content_type(content_type)


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("image/bmp", "^BMP pictures are not supported; send PNG, JPEG, WebP or GIF.$"),
        ("image/svg+xml", "^SVG pictures are not supported"),
        ("application/pdf", r"^This file \(application/pdf\) is not a picture; send PNG"),
        (None, "^This file is not a picture"),
        ("", "^This file is not a picture"),
    ],
)
def test_other_content_types_are_refused(content_type: str | None, message: str) -> None:
    """Other content types raise UnsupportedFormat naming what was sent and what is taken."""
    with pytest.raises(UnsupportedFormat, match=message):
        check_content_type(content_type)


def test_accepted_content_types_match_formats() -> None:
    """The content types taken are exactly those of PNG, JPEG, WebP and GIF."""
    assert {"image/png", "image/jpeg", "image/webp", "image/gif"} == ACCEPTED_CONTENT_TYPES


def test_dimensions_within_limits_pass() -> None:
    """A 12 megapixel, 5 MB photo passes the metadata check."""
    check_dimensions(width=4000, height=3000, size_bytes=5_000_000)


@pytest.mark.parametrize(("width", "height"), [(None, 100), (100, None), (None, None), (0, 10)])
def test_missing_dimensions_are_not_a_picture(width: int | None, height: int | None) -> None:
    """Discord gives no dimensions for non-pictures: NotAPicture."""
    with pytest.raises(NotAPicture):
        check_dimensions(width=width, height=height)


def test_too_many_bytes_is_too_large() -> None:
    """A file over the byte limit raises PictureTooLarge saying both sizes in MB."""
    with pytest.raises(PictureTooLarge, match=r"^This file is 30 MB; the limit is 25 MB\.$"):
        check_dimensions(width=100, height=100, size_bytes=30 * 1024 * 1024)
    assert DEFAULT_MAX_BYTES == 25 * 1024 * 1024


def test_metadata_bomb_is_a_bomb() -> None:
    """A small file claiming a huge size is a DecompressionBomb even from metadata alone."""
    with pytest.raises(DecompressionBomb):
        check_dimensions(width=20_000, height=20_000, size_bytes=2_000)
    with pytest.raises(PictureTooLarge):
        check_dimensions(width=10_000, height=10_000, size_bytes=None)
    assert DEFAULT_MAX_PIXELS == 40_000_000


# --- decoding ----------------------------------------------------------------------------------


def test_exif_orientation_is_applied() -> None:
    """A JPEG stored sideways with EXIF Orientation=6 decodes upright, its sides swapped."""
    stored = Image.new("RGB", (60, 40), RED)
    stored.paste(BLUE, (30, 0, 60, 40))  # red left half, blue right half
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # rotate 90° clockwise to view
    picture = decode(_save(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert picture.rgb.size == (40, 60)
    top, bottom = picture.rgb.getpixel((20, 5)), picture.rgb.getpixel((20, 55))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]


def test_exif_orientation_and_max_side_together() -> None:
    """A sideways JPEG larger than max_side comes out upright with its longest side max_side."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    data = _save(Image.new("RGB", (1801, 1200), RED), "JPEG", exif=exif.tobytes())
    assert decode(data, max_side=100).rgb.size == (67, 100)


def _palette_with_transparency() -> Image.Image:
    image = Image.new("P", (20, 10), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (10, 0, 20, 10))
    image.info["transparency"] = 1
    return image


def _with_alpha(mode: str) -> Image.Image:
    image = Image.new(mode, (20, 10), (200,) * (len(mode) - 1) + (255,))
    image.paste((50,) * (len(mode) - 1) + (0,), (10, 0, 20, 10))
    return image


MODES = {
    "1": (Image.new("1", (20, 10), 1), "PNG", False),
    "L": (Image.new("L", (20, 10), 128), "PNG", False),
    "P": (_palette_with_transparency(), "PNG", True),
    "P gif": (_palette_with_transparency(), "GIF", True),
    "CMYK": (Image.new("CMYK", (20, 10), (0, 255, 255, 0)), "JPEG", False),
    "I;16": (Image.new("I;16", (20, 10), 40_000), "PNG", False),
    "LA": (_with_alpha("LA"), "PNG", True),
    "RGBA": (_with_alpha("RGBA"), "PNG", True),
    "RGBA webp": (_with_alpha("RGBA"), "WEBP", True),
    "RGBA opaque": (Image.new("RGBA", (20, 10), (1, 2, 3, 255)), "PNG", False),
}


@pytest.mark.parametrize("name", list(MODES))
def test_modes_become_rgb_and_alpha(name: str) -> None:
    """Every mode decodes to RGB, with an L alpha channel exactly when some pixel is see-through."""
    image, fmt, has_alpha = MODES[name]
    picture = decode(_save(image, fmt, lossless=True) if fmt == "WEBP" else _save(image, fmt))
    assert picture.rgb.mode == "RGB" and picture.rgb.size == (20, 10)
    assert picture.source_format == fmt
    if has_alpha:
        assert picture.alpha is not None and picture.alpha.mode == "L"
        assert picture.alpha.getpixel((0, 0)) == 255 and picture.alpha.getpixel((15, 5)) == 0
    else:
        assert picture.alpha is None


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    """16-bit grey is scaled to 8 bits (40000 -> 156), not clipped to white."""
    picture = decode(_save(Image.new("I;16", (4, 4), 40_000), "PNG"))
    assert picture.rgb.getpixel((0, 0)) == (156, 156, 156)


def test_cmyk_comes_out_with_the_right_colour() -> None:
    """Pure cyan ink in a CMYK JPEG decodes as cyan."""
    picture = decode(_save(Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG", quality=95))
    red, green, blue = picture.rgb.getpixel((4, 4))  # type: ignore[misc]
    assert red < 30 and green > 220 and blue > 220


def test_colour_profiles_are_applied_or_ignored_when_broken() -> None:
    """An sRGB profile leaves colours as they are; a broken profile does not stop decoding."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.new("RGB", (8, 8), (10, 120, 230))
    for profile in (srgb, b"not a colour profile"):
        pixel = decode(_save(image, "PNG", icc_profile=profile)).rgb.getpixel((4, 4))
        assert isinstance(pixel, tuple)
        assert all(abs(a - b) <= 2 for a, b in zip(pixel, (10, 120, 230), strict=True))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animation_gives_first_frame_and_frame_count(fmt: str) -> None:
    """An animated GIF, WebP or PNG decodes its first frame and counts all its frames."""
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, (0, 255, 0), BLUE)]
    data = _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    picture = decode(data)
    assert picture.frames == 3
    red, green, blue = picture.rgb.getpixel((8, 8))  # type: ignore[misc]
    assert red > 200 and green < 50 and blue < 50


def test_phone_jpeg_with_extra_images_is_a_jpeg() -> None:
    """A JPEG carrying extra images (MPO, as phones write) decodes as one JPEG frame."""
    first, second = Image.new("RGB", (16, 16), RED), Image.new("RGB", (16, 16), BLUE)
    picture = decode(_save(first, "MPO", save_all=True, append_images=[second]))
    assert picture.source_format == "JPEG" and picture.frames == 1


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_scaled_down_to_max_side_keeping_aspect(fmt: str) -> None:
    """A picture larger than max_side is scaled so its longest side is max_side, aspect kept."""
    picture = decode(_save(_chelsea().resize((1804, 1200)), fmt), max_side=100)
    assert picture.rgb.size == (100, 67)


def test_small_picture_is_not_enlarged() -> None:
    """A picture already within max_side keeps its size."""
    picture = decode(CHELSEA.read_bytes(), max_side=1000)
    assert picture.rgb.size == (451, 300)


def test_alpha_is_scaled_with_the_picture() -> None:
    """The alpha channel is scaled to the same size as the RGB pixels."""
    picture = decode(_save(_with_alpha("RGBA").resize((200, 100)), "PNG"), max_side=50)
    assert picture.alpha is not None and picture.alpha.size == picture.rgb.size == (50, 25)


def test_real_photo_round_trip() -> None:
    """chelsea.png decodes to its exact pixels and encodes back losslessly."""
    picture = decode(CHELSEA.read_bytes())
    assert (picture.alpha, picture.source_format, picture.frames) == (None, "PNG", 1)
    assert picture.rgb.tobytes() == _chelsea().tobytes()
    assert not picture.rgb.info  # no metadata carried along
    encoded = encode(picture.rgb)
    assert decode(encoded.data).rgb.tobytes() == _chelsea().tobytes()


MODE_NAMES = ["1", "L", "P", "RGB", "RGBA", "LA", "I;16", "CMYK"]


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    mode=st.sampled_from(MODE_NAMES),
    fmt=st.sampled_from(["PNG", "JPEG", "GIF", "WEBP"]),
)
def test_any_small_picture_decodes_to_rgb_of_its_size(
    width: int, height: int, mode: str, fmt: str
) -> None:
    """Any mode saved in any accepted format decodes to an RGB picture of the same size."""
    image = Image.new(mode, (width, height))
    try:
        data = _save(image, fmt)
    except (OSError, ValueError, KeyError):
        return  # Pillow cannot write this mode in this format; nothing to decode
    picture = decode(data)
    assert picture.rgb.mode == "RGB" and picture.rgb.size == (width, height)


SMALL = {
    fmt: _save(Image.new("RGB", (24, 16), (90, 160, 30)), fmt) for fmt in pictures.ACCEPTED_FORMATS
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(pictures.ACCEPTED_FORMATS),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    cut=st.integers(1, 10_000),
)
def test_damaged_files_raise_only_picture_errors(
    fmt: str, edits: list[tuple[int, int]], cut: int
) -> None:
    """A file with bytes changed or cut off either decodes or raises a PictureError."""
    data = bytearray(SMALL[fmt][:cut])
    for position, value in edits:
        data[position % len(data)] = value
    with contextlib.suppress(PictureError):
        decode(bytes(data))


# --- decoding within a budget ----------------------------------------------------------------


class _Clock:
    """A stand-in for the time module whose clock moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self.reads = 0

    def monotonic(self) -> float:
        self.now += self.step
        self.reads += 1
        return self.now


def test_a_decode_past_its_deadline_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the clock passes max_seconds mid-decode, DecodeTimeout stops it with the limit."""
    clock = _Clock(step=1.0)
    monkeypatch.setattr(pictures, "time", clock)
    with pytest.raises(DecodeTimeout, match="more than 3 seconds to unpack"):
        decode(CHELSEA.read_bytes(), budget=DecodeBudget(max_seconds=3))
    assert clock.reads <= 5  # stopped at the first reads past the deadline, not at the end


def test_the_deadline_is_checked_on_reads_within_one_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """A big frame's decode reads the file block by block, each read checking the deadline."""
    data = _save(_noise(600, 600), "PNG")  # ~1 MB: Pillow reads it in 64 KB blocks
    clock = _Clock(step=0.001)
    monkeypatch.setattr(pictures, "time", clock)
    decode(data, budget=DecodeBudget(max_seconds=1000))
    assert clock.reads > len(data) // 65536


def test_a_normal_picture_decodes_well_within_the_default_budget() -> None:
    """The default budget takes a real photo without coming near any limit."""
    assert DEFAULT_BUDGET.max_seconds >= 1 and DEFAULT_BUDGET.max_memory >= 256 * 1024 * 1024
    assert decode(CHELSEA.read_bytes()).rgb.size == (451, 300)


def test_the_memory_estimate_refuses_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """A picture whose decode would need more than max_memory is refused, naming both sizes."""
    data = _save(Image.new("RGB", (1000, 1000), RED), "PNG")
    _forbid_pixel_decoding(monkeypatch)
    with pytest.raises(PictureTooLarge, match=r"about 7.6 MB of memory; the limit is 4 MB"):
        decode(data, budget=DecodeBudget(max_memory=4 * 1024 * 1024))


@pytest.mark.parametrize("name", ["I;16", "CMYK", "P"])
def test_conversions_are_costed_before_they_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """16-bit grey, CMYK and palette-with-alpha pictures over the memory budget are refused
    before a pixel is decoded or converted."""
    image, fmt, _ = MODES[name]
    data = _save(image.resize((1000, 1000)), fmt)
    _forbid_pixel_decoding(monkeypatch)
    with pytest.raises(PictureTooLarge, match="memory"):
        decode(data, budget=DecodeBudget(max_memory=1024 * 1024))


def test_progressive_cmyk_costs_more_than_rgb() -> None:
    """A progressive CMYK JPEG is costed above an RGB picture of the same size, which fits."""
    budget = DecodeBudget(max_memory=8_500_000)  # RGB 1000² needs 8 bytes a pixel
    decode(_save(Image.new("RGB", (1000, 1000), RED), "PNG"), budget=budget)
    cmyk = _save(Image.new("CMYK", (1000, 1000), (0, 9, 9, 0)), "JPEG", progressive=True)
    with pytest.raises(PictureTooLarge, match="memory"):
        decode(cmyk, budget=budget)


def test_a_packed_file_under_the_pixel_limit_is_still_a_bomb(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pixels-per-byte test applies under the pixel limit too: 9 megapixels in ~100 bytes."""
    _forbid_pixel_decoding(monkeypatch)
    with pytest.raises(DecompressionBomb, match="3000×3000"):
        decode(_png_claiming(3000, 3000))


def test_a_small_packed_picture_is_not_a_bomb() -> None:
    """Under a megapixel, a picture of one colour in few bytes decodes: it costs next to nothing."""
    data = _png_claiming(1000, 1000, rows=1000)
    assert len(data) * 1000 < 1000 * 1000
    assert decode(data).rgb.size == (1000, 1000)


def test_a_side_over_the_limit_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    """A picture longer than max_dimension on a side is refused, however few its pixels."""
    data = _png_claiming(40_000, 2, rows=2)
    _forbid_pixel_decoding(monkeypatch)
    with pytest.raises(PictureTooLarge, match="no side may be longer than 30,000 pixels"):
        decode(data)


def test_decode_limits_must_be_positive() -> None:
    """A budget of zero or less is a ParamsError, not a silent refusal of every picture."""
    with pytest.raises(ParamsError):
        DecodeBudget(max_seconds=0)
    with pytest.raises(ParamsError):
        DecodeBudget(max_work=-1)


@pytest.mark.parametrize(
    "raised",
    [
        struct.error("unpack"),
        IndexError("index"),
        ValueError("value"),
        RuntimeError("runtime"),
        OSError("os"),
        SyntaxError("syntax"),
        EOFError("eof"),
        KeyError("key"),
        ZeroDivisionError("zero"),
        RecursionError("deep"),
    ],
    ids=type,
)
def test_anything_pillow_raises_is_a_damaged_picture(
    raised: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever Pillow raises while decoding becomes TruncatedPicture, the cause chained."""

    def fail(self: ImageFile.ImageFile) -> None:
        raise raised

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)
    with pytest.raises(TruncatedPicture, match="cut off or damaged") as refused:
        decode(CHELSEA.read_bytes())
    assert refused.value.__cause__ is raised


def test_a_feature_pillow_lacks_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    """NotImplementedError from Pillow says the picture uses something that cannot be read."""

    def fail(self: ImageFile.ImageFile) -> None:
        raise NotImplementedError("Unimplemented pixel format")

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)
    with pytest.raises(UnsupportedFormat, match="save it anew as PNG or JPEG"):
        decode(CHELSEA.read_bytes())


def test_out_of_memory_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MemoryError while decoding is PictureTooLarge, not a crash."""

    def fail(self: ImageFile.ImageFile) -> None:
        raise MemoryError

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)
    with pytest.raises(PictureTooLarge, match="more memory"):
        decode(CHELSEA.read_bytes())


def test_a_format_pillow_cannot_name_is_not_a_picture() -> None:
    """A DDS file whose pixel format Pillow does not implement is NotAPicture, not a crash."""
    header = bytearray(128)
    header[:4] = b"DDS "
    struct.pack_into("<7I", header, 4, 124, 0x1007, 16, 16, 0, 0, 0)
    struct.pack_into("<2I4s", header, 76, 32, 0x4, b"ZZZZ")
    with pytest.raises(NotAPicture):
        decode(bytes(header) + bytes(256))


def test_quiet_pillow_is_defined_once() -> None:
    """Pillow is quietened in one place, engine.pictures; engine.frames uses it from there."""
    import engine.frames

    assert hasattr(pictures, "_quiet_pillow") and not hasattr(engine.frames, "_quiet_pillow")


# --- encoding ----------------------------------------------------------------------------------


def test_encodes_png_when_it_fits() -> None:
    """Without a byte budget, or within it, the result is a PNG named after the stem."""
    encoded = encode(_chelsea(), stem="cat", max_bytes=DEFAULT_MAX_BYTES)
    assert (encoded.format, encoded.filename) == ("PNG", "cat.png")
    assert encoded.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("max_bytes", [30_000, 12_000, 4_000])
def test_falls_back_to_lossy_within_budget(max_bytes: int) -> None:
    """Under a small budget the result is WebP or JPEG, no larger than the budget."""
    encoded = encode(_chelsea(), max_bytes=max_bytes)
    assert encoded.format in ("WEBP", "JPEG")
    assert len(encoded.data) <= max_bytes
    assert encoded.filename == {"WEBP": "dream.webp", "JPEG": "dream.jpg"}[encoded.format]
    assert decode(encoded.data).source_format == encoded.format


def test_smaller_sizes_when_quality_is_not_enough() -> None:
    """When even the lowest quality does not fit, the picture is made smaller until it fits."""
    encoded = encode(_noise(200, 200), max_bytes=8_000)
    assert len(encoded.data) <= 8_000
    width, height = decode(encoded.data).rgb.size
    assert width == height and 64 <= width < 200


def test_nothing_fits_is_too_large() -> None:
    """A budget no picture can meet raises PictureTooLarge saying the budget."""
    with pytest.raises(PictureTooLarge, match="fit in 100 bytes"):
        encode(_chelsea(), max_bytes=100)


def test_metadata_is_stripped() -> None:
    """No EXIF, text or colour profile reaches the output, PNG or lossy."""
    image = _chelsea()
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "my home address")
    source = Image.open(io.BytesIO(_save(image, "PNG", exif=exif.tobytes(), pnginfo=text)))
    source.load()
    source.info["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for max_bytes in (None, 20_000):
        data = encode(source, max_bytes=max_bytes).data
        assert b"SecretCam" not in data and b"home address" not in data
        with Image.open(io.BytesIO(data)) as out:
            assert not out.getexif()
            assert not {"exif", "icc_profile", "Comment"} & set(out.info)


def test_alpha_is_kept_in_png_and_webp() -> None:
    """A see-through picture keeps its alpha, exactly in PNG and closely in WebP."""
    alpha = Image.linear_gradient("L").resize((128, 128))
    rgb = _noise(128, 128)
    png = encode(rgb, alpha=alpha)
    assert png.format == "PNG"
    decoded = decode(png.data)
    assert decoded.alpha is not None and decoded.alpha.tobytes() == alpha.tobytes()

    webp = encode(rgb, alpha=alpha, max_bytes=len(png.data) // 2)
    assert webp.format == "WEBP"
    decoded = decode(webp.data)
    assert decoded.alpha is not None
    assert abs(decoded.alpha.getpixel((64, 100)) - alpha.getpixel((64, 100))) <= 8  # type: ignore[operator]


def test_jpeg_puts_see_through_pixels_on_white(monkeypatch: pytest.MonkeyPatch) -> None:
    """When only JPEG fits, see-through pixels come out white."""
    save = pictures._save

    def no_webp(image: Image.Image, fmt: str, *, quality: int | None = None) -> bytes:
        return b"\0" * 10**6 if fmt == "WEBP" else save(image, fmt, quality=quality)

    monkeypatch.setattr(pictures, "_save", no_webp)
    encoded = encode(_noise(64, 64), alpha=Image.new("L", (64, 64), 0), max_bytes=5_000)
    assert encoded.format == "JPEG"
    red, green, blue = decode(encoded.data).rgb.getpixel((32, 32))  # type: ignore[misc]
    assert min(red, green, blue) > 245


def test_put_alpha_joins_and_fits_alpha() -> None:
    """put_alpha makes RGBA, stretching an alpha of another size; no alpha leaves RGB."""
    rgb = Image.new("RGB", (40, 20), RED)
    assert put_alpha(rgb, None).mode == "RGB"
    joined = put_alpha(rgb, Image.new("L", (20, 10), 7))
    assert joined.mode == "RGBA" and joined.size == (40, 20)
    assert joined.getpixel((39, 19)) == (255, 0, 0, 7)
