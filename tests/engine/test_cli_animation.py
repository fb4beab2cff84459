"""The `deepdream` command line's moving dreams: `deepdream zoom` and every frame of a GIF."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from engine import decode_animation, video_available
from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "data" / "astronaut.png"
QUICK = ["--max-side", "48", "--steps", "1", "--seed", "1", "--device", "cpu", "-q"]


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("deepdream: error: "), stderr
    return lines[0]


def _gif(path: Path, frames: int, *, durations: list[int] | None = None) -> Path:
    with Image.open(PHOTO) as photo:
        big = photo.convert("RGB").resize((48 + 2 * frames, 48 + 2 * frames))
    images = [big.crop((2 * i, i, 2 * i + 48, i + 48)) for i in range(frames)]
    images[0].save(
        path,
        "GIF",
        save_all=True,
        append_images=images[1:],
        duration=durations or [60] * frames,
        loop=0,
    )
    return path


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".mp4"])
def test_zoom_writes_an_animation_in_the_extensions_format(tmp_path: Path, suffix: str) -> None:
    """`deepdream zoom` writes the frames asked, as GIF, animated WebP or MP4."""
    if suffix == ".mp4" and not video_available():
        pytest.skip("PyAV (the 'video' extra) is not installed")
    output = tmp_path / f"zoom{suffix}"
    argv = ["zoom", str(PHOTO), "-o", str(output), "--frames", "3", "--rotate", "2", *QUICK]
    assert main(argv) == 0
    if suffix == ".mp4":
        assert output.read_bytes()[4:8] == b"ftyp"
        return
    animation = decode_animation(output.read_bytes())
    assert len(animation.frames) == 3 and animation.size == (48, 48)
    assert all(abs(d - 83) < 10 for d in animation.durations)  # 12 fps; GIF counts in 10 ms


def test_zoom_refuses_options_that_do_not_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--octaves makes no sense for a zoom: exit 2 with one line saying so."""
    code = main(["zoom", str(PHOTO), "-o", str(tmp_path / "z.gif"), "--octaves", "3", *QUICK])
    assert code == 2
    assert "--octaves" in _error_line(capsys.readouterr().err)


def test_zoom_refuses_a_still_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A zoom written to .png is a usage error naming the animation formats."""
    assert main(["zoom", str(PHOTO), "-o", str(tmp_path / "z.png"), *QUICK]) == 2
    assert ".gif" in _error_line(capsys.readouterr().err)


def test_a_gif_in_and_a_gif_out_dreams_every_frame(tmp_path: Path) -> None:
    """`deepdream in.gif -o out.gif` dreams every frame, durations and loop kept."""
    source = _gif(tmp_path / "in.gif", 4, durations=[40, 80, 120, 160])
    output = tmp_path / "out.gif"
    assert main([str(source), "-o", str(output), "--octaves", "1", *QUICK]) == 0
    animation = decode_animation(output.read_bytes())
    assert len(animation.frames) == 4 and animation.durations == (40, 80, 120, 160)
    assert animation.loop == 0
    original = decode_animation(source.read_bytes())
    assert animation.frames[1].tobytes() != original.frames[1].tobytes()


def test_a_gif_to_png_still_dreams_the_first_frame(tmp_path: Path) -> None:
    """A still output format keeps the old behaviour: the first frame only."""
    source = _gif(tmp_path / "in.gif", 3)
    output = tmp_path / "out.png"
    assert main([str(source), "-o", str(output), "--octaves", "1", *QUICK]) == 0
    with Image.open(output) as image:
        assert image.format == "PNG" and getattr(image, "n_frames", 1) == 1


def test_too_many_frames_are_refused_unless_sampled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over --max-frames the command says how to go on; with --sample it dreams every n-th."""
    source = _gif(tmp_path / "in.gif", 6)
    output = tmp_path / "out.webp"
    common = [str(source), "-o", str(output), "--octaves", "1", "--max-frames", "3", *QUICK]
    assert main(common) == 2
    assert "--sample" in _error_line(capsys.readouterr().err)
    assert main([*common, "--sample"]) == 0
    animation = decode_animation(output.read_bytes())
    assert len(animation.frames) == 3 and sum(animation.durations) == 360
    with Image.open(io.BytesIO(output.read_bytes())) as image:
        assert image.format == "WEBP"
