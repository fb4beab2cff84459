"""The `deepdream` command line, end to end on a sample photo."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from engine.cli import _ProgressBar, main
from engine.layers import presets
from engine.models import available_models
from engine.params import Progress

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "data" / "astronaut.png"
# small and short, so each dream takes a fraction of a second on a 2-core CPU
QUICK = ["--max-side", "64", "--steps", "2", "--octaves", "2", "--seed", "1", "--device", "cpu"]


def _error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("deepdream: error: ")
    return lines[0]


@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP")])
def test_dream_writes_the_format_of_the_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, fmt: str
) -> None:
    """A dream of the sample photo is written at the capped size, in the extension's format."""
    output = tmp_path / f"dream{suffix}"
    assert main([str(PHOTO), "-o", str(output), *QUICK]) == 0
    with Image.open(output) as image:
        assert image.format == fmt
        assert image.size == (64, 64)
        assert "exif" not in image.info and "icc_profile" not in image.info
    assert f"wrote {output}" in capsys.readouterr().err


def test_same_seed_gives_the_same_file(tmp_path: Path) -> None:
    """Two runs with the same seed on the same device write identical pixels."""
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    assert main([str(PHOTO), "-o", str(first), *QUICK, "-q"]) == 0
    assert main([str(PHOTO), "-o", str(second), *QUICK, "-q"]) == 0
    with Image.open(first) as a, Image.open(second) as b:
        assert a.tobytes() == b.tobytes()
        with Image.open(PHOTO) as photo:
            assert a.tobytes() != photo.resize((64, 64)).tobytes()


def test_alpha_survives_into_png_and_webp(tmp_path: Path) -> None:
    """A picture with transparency keeps its alpha channel in PNG and WebP output."""
    source = tmp_path / "clear.png"
    with Image.open(PHOTO) as photo:
        rgba = photo.convert("RGB").resize((64, 64)).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((64, 64)))
    rgba.save(source)
    for suffix in (".png", ".webp"):
        output = tmp_path / f"dream{suffix}"
        assert main([str(source), "-o", str(output), *QUICK, "-q"]) == 0
        with Image.open(output) as image:
            assert image.mode == "RGBA"
            low, high = image.getchannel("A").getextrema()
            assert low < 10 and high > 245


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_one_line_on_a_terminal() -> None:
    """On a terminal the bar redraws in place with steps done and ends with one newline."""
    stream = _Terminal()
    bar = _ProgressBar(stream)
    for octave in (1, 2):
        for step in (1, 2):
            bar(Progress(octave, 2, step, 2))
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and text.count("\n") == 1
    assert "4/4 steps, octave 2/2" in text
    assert "#" * _ProgressBar.WIDTH in text


def test_progress_bar_is_silent_off_a_terminal() -> None:
    """Piped to a file, the bar writes nothing (no carriage-return clutter in logs)."""
    stream = io.StringIO()
    bar = _ProgressBar(stream)
    bar(Progress(1, 1, 1, 1))
    bar.close()
    assert stream.getvalue() == ""


@pytest.mark.slow
def test_python_dash_m_engine_runs_in_a_fresh_process(tmp_path: Path) -> None:
    """`python -m engine` dreams a file and exits 0; a missing file exits 1 without a traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    output = tmp_path / "dream.png"
    done = subprocess.run(
        [sys.executable, "-m", "engine", str(PHOTO), "-o", str(output), *QUICK],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(output) as image:
        assert image.size == (64, 64)
    missing = subprocess.run(
        [sys.executable, "-m", "engine", str(tmp_path / "nope.png"), "-o", str(output)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert missing.returncode == 1
    assert "nope.png" in _error_line(missing.stderr)


def test_layers_lists_every_model_and_preset(capsys: pytest.CaptureFixture[str]) -> None:
    """`deepdream layers` names every model with its description and every preset's layers."""
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    for model in available_models():
        assert model in out
        for preset in presets(model):
            assert f"  {preset.name}" in out
            assert preset.description in out


def test_layers_of_one_model_lists_its_raw_layers(capsys: pytest.CaptureFixture[str]) -> None:
    """`deepdream layers --model googlenet` lists raw layer names such as inception4c."""
    assert main(["layers", "--model", "googlenet"]) == 0
    out = capsys.readouterr().out
    assert "    inception4c\n" in out
    assert "efficientnet_lite0" not in out


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["missing.png", "-o", "out.png", *QUICK], 1, "missing.png"),
        (["NOT_A_PICTURE", "-o", "out.png", *QUICK], 1, "picture"),
        (
            [str(PHOTO), "-o", "out.png", *QUICK, "--layers", "blocks.44"],
            2,
            "Did you mean 'blocks.4'",
        ),
        ([str(PHOTO), "-o", "out.png", *QUICK, "--model", "alexnet"], 2, "alexnet"),
        ([str(PHOTO), "-o", "out.png", *QUICK, "--steps", "0"], 2, "steps"),
        ([str(PHOTO), "-o", "out.png", *QUICK, "--device", "tpu"], 2, "tpu"),
        ([str(PHOTO), "-o", "out.bmp", *QUICK], 2, ".png"),
        (["layers", "--model", "alexnet"], 2, "alexnet"),
        (
            [str(PHOTO), "-o", "out.png", *QUICK, "--layers", "eyes+blocks.4:500"],
            2,
            "blocks.4 of efficientnet_lite0 has channels 0 to 111",
        ),
        (
            [str(PHOTO), "-o", "out.png", *QUICK, "--layers", "strokes+eyes", "fur", "a", "b"],
            2,
            "at most 4",
        ),
        ([str(PHOTO), "-o", "out.png", *QUICK, "--layers", "eyes+"], 2, "empty part"),
    ],
    ids=[
        "missing",
        "not-a-picture",
        "layer",
        "model",
        "steps",
        "device",
        "format",
        "layers-model",
        "channel",
        "too-many-terms",
        "empty-term",
    ],
)
def test_bad_input_gives_one_line_and_an_exit_code(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    expected: str,
) -> None:
    """Each bad input exits non-zero with one `deepdream: error:` line and no traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "NOT_A_PICTURE").write_text("just some words, no pixels")
    assert main(args) == code
    assert expected in _error_line(capsys.readouterr().err)
    assert not (tmp_path / "out.png").exists()


def test_malformed_numbers_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """A number argparse cannot read exits 2 with argparse's message and no traceback."""
    assert main([str(PHOTO), "-o", "out.png", "--steps", "many"]) == 2
    err = capsys.readouterr().err
    assert "invalid int value: 'many'" in err
    assert "Traceback" not in err


def test_guide_and_class_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    """--guide and --dream-of cannot be combined."""
    args = [str(PHOTO), "-o", "out.png", "--guide", str(PHOTO), "--dream-of", "goldfish"]
    assert main(args) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_layers_take_recipes_and_smooth_changes_the_dream(tmp_path: Path) -> None:
    """`--layers eyes+animals` is `--layers animals eyes`; `--smooth` dreams another picture."""
    paths = [tmp_path / f"{name}.png" for name in ("mix", "spaced", "smooth")]
    recipes = [["eyes+animals", "--no-smooth"], ["animals", "eyes", "--no-smooth"]]
    recipes.append(["eyes+animals", "--smooth"])
    for path, layers in zip(paths, recipes, strict=True):
        assert main([str(PHOTO), "-o", str(path), *QUICK, "-q", "--layers", *layers]) == 0
    mix, spaced, smooth = (Image.open(path).convert("RGB").tobytes() for path in paths)
    assert mix == spaced
    assert smooth != mix


def test_the_dream_command_may_be_named(tmp_path: Path) -> None:
    """`deepdream dream IN -o OUT` is the same command as `deepdream IN -o OUT`."""
    named, bare = tmp_path / "named.png", tmp_path / "bare.png"
    assert main(["dream", str(PHOTO), "-o", str(named), *QUICK, "-q"]) == 0
    assert main([str(PHOTO), "-o", str(bare), *QUICK, "-q"]) == 0
    with Image.open(named) as a, Image.open(bare) as b:
        assert a.tobytes() == b.tobytes()


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """`deepdream --help` exits 0 naming the dream, layers and zoom commands."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(command in out for command in ("dream", "layers", "zoom"))
