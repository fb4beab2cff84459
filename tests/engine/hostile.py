"""Hostile picture files, made at test time: small files built with Pillow, then a few header
bytes changed with struct so that they lie about their size, their frames or their format.

`build()` gives every file by name; `python tests/engine/hostile.py FOLDER` writes them there
(for bench/pictures.py, or to look at them).
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from PIL import GifImagePlugin, Image

__all__ = ["build", "gif", "png_chunk", "write"]


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# --- GIF: frames placed anywhere, each frame's descriptor written by us ---------------------


def _tile(size: tuple[int, int], colour: int) -> bytes:
    """The LZW code size, data and terminator of a one-colour palette tile, as Pillow codes it."""
    image = Image.new("P", size, colour)
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * 756)
    return b"".join(GifImagePlugin.getdata(image)[1:])


def gif(
    screen: tuple[int, int],
    frames: Iterable[tuple[int, int, int, int]],
    *,
    tile: tuple[int, int] | None = None,
    disposal: int = 1,
) -> bytes:
    """A GIF whose logical screen is ``screen`` and whose frames are (x, y, width, height) as
    their descriptors say; each frame's pixels are a ``tile`` (default: its own size) of one
    colour, so a descriptor larger than its tile claims pixels the data does not hold."""
    palette = bytes([0, 0, 0, 255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * 756)
    out = [b"GIF89a", struct.pack("<HHBBB", *screen, 0xF7, 0, 0), palette]
    out.append(b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")  # loop forever
    tiles: dict[tuple[tuple[int, int], int], bytes] = {}
    for index, (x, y, width, height) in enumerate(frames):
        size = tile or (width, height)
        colour = index % 3 + 1
        if (size, colour) not in tiles:
            tiles[size, colour] = _tile(size, colour)
        out.append(b"!\xf9\x04" + bytes([disposal << 2]) + struct.pack("<H", 4) + b"\x00\x00")
        out.append(b"," + struct.pack("<4HB", x, y, width, height, 0))
        out.append(tiles[size, colour])
    out.append(b";")
    return b"".join(out)


# --- PNG: chunks written by us, pixels streamed so that giants cost no memory to make --------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(
    width: int, height: int, *, depth: int, colour: int, row: bytes, extra: bytes = b""
) -> bytes:
    """A PNG of ``height`` identical rows of filter 0 + ``row``, compressed as it is made."""
    packer = zlib.compressobj(9)
    block = (b"\x00" + row) * 256
    body = b"".join(packer.compress(block) for _ in range(height // 256))
    body += packer.compress((b"\x00" + row) * (height % 256)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def _patch(data: bytes, at: int, fmt: str, *values: int) -> bytes:
    patched = bytearray(data)
    struct.pack_into(fmt, patched, at, *values)
    return bytes(patched)


def _refresh_crc(data: bytes, kind: bytes) -> bytes:
    """``data`` with the CRC of its first ``kind`` chunk made right again after a patch."""
    at = data.index(kind) - 4
    (length,) = struct.unpack_from(">I", data, at)
    crc = zlib.crc32(data[at + 4 : at + 8 + length])
    return _patch(data, at + 8 + length, ">I", crc)


# --- the files ------------------------------------------------------------------------------


def _frames(count: int, size: tuple[int, int] = (16, 16)) -> list[Image.Image]:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    return [Image.new("RGB", size, colours[i % 3]) for i in range(count)]


def _animated(fmt: str, count: int = 2, **options: object) -> bytes:
    first, *rest = _frames(count)
    return _save(first, fmt, save_all=True, append_images=rest, duration=100, **options)


def _gif_growth() -> bytes:
    # header 100×100, later frames 9000×9000 (each holding 100×100 pixels of data)
    return gif(
        (100, 100), [(0, 0, 100, 100), (0, 0, 9000, 9000), (0, 0, 9000, 9000)], tile=(100, 100)
    )


def _gif_far_tile() -> bytes:
    return gif((100, 100), [(8900, 8900, 100, 100)])


def _gif_creeping_tiles() -> bytes:
    # 3000 small tiles, each a little further out: every frame is small and the canvas stays
    # under the pixel limit, but every frame composites the whole grown canvas
    return gif((16, 16), [(2 * i, 2 * i, 16, 16) for i in range(3000)])


def _gif_thousands_of_frames() -> bytes:
    return gif((8, 8), [(0, 0, 8, 8)] * 6000)


def _gif_later_bomb() -> bytes:
    return gif((100, 100), [(0, 0, 100, 100), (0, 0, 65535, 65535)], tile=(100, 100))


def _gif_absurd_screen() -> bytes:
    return gif((65535, 65535), [(0, 0, 1, 1)])


def _webp_canvas(data: bytes, width: int, height: int) -> bytes:
    assert data[12:16] == b"VP8X", "an animated WebP starts with VP8X"
    patched = bytearray(data)
    patched[24:27] = (width - 1).to_bytes(3, "little")
    patched[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(patched)


def _apng_frame_outside() -> bytes:
    data = _animated("PNG", 2)
    # the second frame's fcTL: sequence number, width, height, x offset (at 12 in the body)
    second = data.index(b"fcTL", data.index(b"fcTL") + 4)
    patched = _patch(data, second + 4 + 4, ">II", 6000, 6000)
    at = second - 4
    crc = zlib.crc32(patched[at + 4 : at + 8 + 26])
    return _patch(patched, at + 8 + 26, ">I", crc)


def _apng_many_frames() -> bytes:
    # acTL claims two billion frames of 2000×2000 on a file of a few KB
    data = _save(
        Image.new("RGB", (2000, 2000), (9, 9, 9)),
        "PNG",
        save_all=True,
        append_images=[Image.new("RGB", (2000, 2000), (10, 10, 10))],
    )
    patched = _patch(data, data.index(b"acTL") + 4, ">I", 2_000_000_000)
    return _refresh_crc(patched, b"acTL")


def _png_16_bit_giant() -> bytes:
    return _png(6300, 6300, depth=16, colour=0, row=bytes(2 * 6300))


def _png_1_bit_bomb() -> bytes:
    return _png(6000, 6000, depth=1, colour=0, row=bytes(750))


def _png_header_only() -> bytes:
    # IHDR of 6000×6000 RGB and one tiny IDAT: 36 megapixels claimed in about 80 bytes
    return _png(6000, 6000, depth=8, colour=2, row=b"", extra=b"")[:33] + (
        png_chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + png_chunk(b"IEND", b"")
    )


def _png_absurd_header() -> bytes:
    small = _save(Image.new("RGB", (8, 8)), "PNG")
    return _refresh_crc(_patch(small, 16, ">II", 0x7FFFFFFF, 0x7FFFFFFF), b"IHDR")


def _png_bad_crc() -> bytes:
    data = bytearray(_save(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG"))
    at = data.index(b"IDAT")
    data[at + 6] ^= 0xFF
    return bytes(data)


def _png_corrupt_zlib() -> bytes:
    data = _save(_frames(1, (64, 64))[0], "PNG")
    at = data.index(b"IDAT")
    (length,) = struct.unpack_from(">I", data, at - 4)
    body = bytes(b ^ 0x5A for b in data[at + 4 : at + 4 + length])
    return data[: at - 4] + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


def _png_chunk_longer_than_file() -> bytes:
    data = _save(Image.new("RGB", (32, 32)), "PNG")
    return _patch(data, data.index(b"IDAT") - 4, ">I", 0x7FFFFFF0)


def _png_huge_text() -> bytes:
    # a 4 MB text chunk, and a zTXt chunk that inflates to 64 MB, on a 32×32 picture
    text = png_chunk(b"tEXt", b"Comment\x00" + b"x" * 4_000_000)
    ztxt = png_chunk(b"zTXt", b"Bomb\x00\x00" + zlib.compress(b"\x00" * 64_000_000, 9))
    return _png(32, 32, depth=8, colour=2, row=bytes(96), extra=text + ztxt)


def _png_huge_icc() -> bytes:
    icc = png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * 50_000_000, 9))
    return _png(32, 32, depth=8, colour=2, row=bytes(96), extra=icc)


def _jpeg_claiming(width: int, height: int, mode: str = "RGB") -> bytes:
    data = _save(Image.new(mode, (16, 16)), "JPEG")
    at = data.index(b"\xff\xc0")  # baseline SOF0: length, precision, height, width
    return _patch(data, at + 5, ">HH", height, width)


def _cmyk_giant() -> bytes:
    return _save(Image.new("CMYK", (5000, 5000), (10, 200, 30, 0)), "JPEG", quality=90)


def _webp_cut() -> bytes:
    data = _animated("WEBP", 3)
    return data[: len(data) * 2 // 3]


def _gif_cut_in_lzw() -> bytes:
    data = _save(_frames(1, (64, 64))[0].quantize(), "GIF")
    return data[: len(data) - 20]


def _dds_unknown_fourcc() -> bytes:
    header = bytearray(128)
    header[:4] = b"DDS "
    struct.pack_into("<7I", header, 4, 124, 0x1007, 16, 16, 0, 0, 0)
    struct.pack_into("<2I4s", header, 76, 32, 0x4, b"ZZZZ")  # pixel format: FOURCC "ZZZZ"
    return bytes(header) + bytes(256)


def _tiff_pages() -> bytes:
    return _animated("TIFF", 3)


BUILDERS: dict[str, Callable[[], bytes]] = {
    "gif-canvas-growth.gif": _gif_growth,
    "gif-far-tile.gif": _gif_far_tile,
    "gif-creeping-tiles.gif": _gif_creeping_tiles,
    "gif-6000-frames.gif": _gif_thousands_of_frames,
    "gif-bomb-in-second-frame.gif": _gif_later_bomb,
    "gif-absurd-screen.gif": _gif_absurd_screen,
    "gif-cut-in-lzw.gif": _gif_cut_in_lzw,
    "webp-6300-canvas.webp": lambda: _webp_canvas(_animated("WEBP", 2, lossless=True), 6300, 6300),
    "webp-absurd-canvas.webp": lambda: _webp_canvas(_animated("WEBP", 2), 1 << 24, 1 << 24),
    "webp-cut.webp": _webp_cut,
    "apng-frame-outside-canvas.png": _apng_frame_outside,
    "apng-two-billion-frames.png": _apng_many_frames,
    "png-16-bit-6300.png": _png_16_bit_giant,
    "png-1-bit-6000.png": _png_1_bit_bomb,
    "png-header-only-6000.png": _png_header_only,
    "png-absurd-header.png": _png_absurd_header,
    "png-bad-crc.png": _png_bad_crc,
    "png-corrupt-zlib.png": _png_corrupt_zlib,
    "png-chunk-longer-than-file.png": _png_chunk_longer_than_file,
    "png-huge-text.png": _png_huge_text,
    "png-huge-icc.png": _png_huge_icc,
    "jpeg-claiming-6000.jpg": lambda: _jpeg_claiming(6000, 6000),
    "jpeg-claiming-65500.jpg": lambda: _jpeg_claiming(65500, 65500),
    "jpeg-cmyk-5000.jpg": _cmyk_giant,
    "pdf-named.png": lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n",
    "svg-named.png": lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>',
    "html-named.png": lambda: b"<!DOCTYPE html><html><body><img src=x></body></html>\n",
    "dds-unknown-format.png": _dds_unknown_fourcc,
    "tiff-three-pages.png": _tiff_pages,
}


def build() -> dict[str, bytes]:
    """Every hostile file by name (the name says what it is; extensions may lie on purpose)."""
    return {name: make() for name, make in BUILDERS.items()}


def write(folder: Path) -> list[Path]:
    """Write every hostile file into ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in build().items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile")):
        print(f"{written.stat().st_size:>10,}  {written}")
