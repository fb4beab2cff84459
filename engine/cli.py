"""The `deepdream` command line: dream one picture file into another, or list models and layers."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import TextIO

from PIL import Image

from engine import (
    Animation,
    AnimationParams,
    BudgetExceeded,
    Dreamer,
    DreamError,
    DreamParams,
    FrameProgress,
    ParamsError,
    Progress,
    UnknownClass,
    UnknownLayer,
    UnknownModel,
    ZoomParams,
    available_models,
    decode,
    decode_animation,
    default_preset,
    dream_frames,
    encode,
    encode_gif,
    encode_mp4,
    encode_webp,
    keep_freed_memory,
    presets,
    use_cpu_threads,
    zoom,
)
from engine.models import MODEL_DESCRIPTIONS, layer_names
from engine.params import MAX_TERMS
from engine.pictures import put_alpha

__all__ = ["main"]

PROG = "deepdream"
# exit codes: 1 the dream failed (picture, weights, device), 2 the command was wrong
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# output format by file extension
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_JPEG_QUALITY = 92
_WEBP_QUALITY = 90

_USAGE_ERRORS = (ParamsError, UnknownClass, UnknownLayer, UnknownModel)

# moving dreams: animation formats by extension; a .gif or .mp4 output dreams every frame of
# its input, a .webp output does when the input is animated
_ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP", ".mp4": "MP4"}
_ALWAYS_ANIMATED = (".gif", ".mp4")
_GIF_COLOURS = 256
_MP4_CRF = 20
# a command line runs on the person's own machine: budgets far above the bot's
_MAX_FRAMES = 500
_MAX_FRAME_PIXELS = 500 * 512 * 512


class _UsageError(Exception):
    """A command that cannot work as written (exit 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    try:
        parsed = _parser().parse_args(_with_command(args))
        command: Callable[[argparse.Namespace], int] = parsed.run
        return command(parsed)
    except _USAGE_ERRORS as error:
        return _fail(str(error), EXIT_USAGE)
    except _UsageError as error:
        return _fail(str(error), EXIT_USAGE)
    except DreamError as error:
        return _fail(str(error), EXIT_FAILED)
    except BrokenPipeError:  # `deepdream layers | head`: the reader has all it wants
        _silence_stdout()
        return 0
    except OSError as error:
        return _fail(_describe_os_error(error), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except SystemExit as done:  # argparse after --help (0) or a malformed command line (2)
        return done.code if isinstance(done.code, int) else EXIT_USAGE


_COMMANDS = ("dream", "layers", "zoom")


def _with_command(args: list[str]) -> list[str]:
    # `deepdream IN -o OUT` is `deepdream dream IN -o OUT`: the dream needs no command word
    if args and (args[0] in _COMMANDS or args[0] in ("-h", "--help")):
        return args
    return ["dream", *args]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [dream] INPUT -o OUTPUT [options] | {PROG} layers [--model M] | "
        f"{PROG} zoom INPUT -o OUTPUT [options]",
        description="Dream a picture with DeepDream.",
        epilog=f"`{PROG} COMMAND --help` describes each command's options.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    dream = commands.add_parser(
        "dream",
        prog=PROG,
        help="dream a picture or every frame of an animation (the default command)",
        description="Dream a picture with DeepDream. `deepdream layers [--model M]` lists the "
        "models, their layer presets and (with --model) every layer name.",
        epilog="example: deepdream photo.jpg -o dream.png --layers eyes+animals --steps 20",
    )
    _add_dream_options(dream)
    _add_animation_options(dream)
    dream.set_defaults(run=_dream)
    layers = commands.add_parser(
        "layers",
        prog=f"{PROG} layers",
        help="list the models, their presets and layers",
        description="List the models and their layer presets; with --model, every layer name too.",
    )
    layers.add_argument("--model", metavar="M", help="one model, with all of its raw layer names")
    layers.set_defaults(run=lambda args: _list_layers(args, sys.stdout))
    zoom = commands.add_parser(
        "zoom",
        prog=f"{PROG} zoom",
        help="an infinite zoom into a picture",
        description="An infinite zoom: each frame is the last one zoomed (and turned), then "
        "dreamed a few steps at one octave. --steps is the steps per frame here.",
        epilog="example: deepdream zoom photo.jpg -o zoom.gif --frames 48 --zoom 0.05",
    )
    _add_dream_options(zoom)
    _add_animation_options(zoom)
    _add_zoom_options(zoom)
    zoom.set_defaults(run=_zoom)
    return parser


def _add_dream_options(parser: argparse.ArgumentParser) -> None:
    defaults = DreamParams()
    parser.add_argument("input", metavar="INPUT", type=Path, help="PNG, JPEG, WebP or GIF picture")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        help="where to write the dream; the format follows the extension (.png, .jpg, .webp)",
    )
    parser.add_argument(
        "--model",
        metavar="M",
        help=f"network to dream with (default {defaults.model}); see `deepdream layers`",
    )
    parser.add_argument(
        "--layers",
        nargs="+",
        metavar="LAYER",
        help="preset names or raw layer names, mixed with + (eyes+animals, at most "
        f"{MAX_TERMS}); layer:N dreams channel N alone (default: the model's default preset)",
    )
    parser.add_argument(
        "--smooth",
        action=argparse.BooleanOptionalAction,
        help="normalise each frequency band of the gradient (Google's Laplacian pyramid): "
        f"larger, smoother shapes (default {'on' if defaults.smooth else 'off'})",
    )
    parser.add_argument(
        "--octaves", type=int, metavar="N", help=f"pyramid levels (default {defaults.octaves})"
    )
    parser.add_argument(
        "--octave-scale",
        type=float,
        metavar="X",
        help=f"size ratio between octaves (default {defaults.octave_scale:g})",
    )
    parser.add_argument(
        "--steps", type=int, metavar="N", help=f"steps per octave (default {defaults.steps})"
    )
    parser.add_argument(
        "--strength",
        type=float,
        metavar="X",
        help=f"step size multiplier (default {defaults.strength:g})",
    )
    parser.add_argument(
        "--jitter",
        type=int,
        metavar="PX",
        help=f"random shift per step (default {defaults.jitter})",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="same seed, same picture, same device: same dream"
    )
    parser.add_argument(
        "--device",
        default="auto",
        metavar="D",
        help="auto, cpu, cuda, cuda:N or mps (default auto)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="CPU threads (default 0: one per physical core)",
    )
    guide = parser.add_mutually_exclusive_group()
    guide.add_argument("--guide", type=Path, metavar="IMAGE", help="dream towards this picture")
    guide.add_argument(
        "--dream-of", metavar="CLASS", help="dream towards an ImageNet class (name or number)"
    )
    parser.add_argument(
        "--max-side",
        type=int,
        metavar="PX",
        help=f"scale larger pictures down to this side first (default {defaults.max_side})",
    )
    parser.add_argument(
        "--tile-size",
        type=int,
        metavar="PX",
        help=f"compute gradients in tiles of this side (default {defaults.tile_size})",
    )
    parser.add_argument(
        "--weights",
        metavar="PATH|random",
        help="a local state-dict file for the model, or 'random' (untrained, for benchmarks)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def _params(args: argparse.Namespace) -> DreamParams:
    options: dict[str, object] = {
        "model": args.model,
        "octaves": args.octaves,
        "octave_scale": args.octave_scale,
        "steps": args.steps,
        "strength": args.strength,
        "jitter": args.jitter,
        "seed": args.seed,
        "max_side": args.max_side,
        "tile_size": args.tile_size,
        "dream_of": args.dream_of,
        "smooth": args.smooth,
    }
    if args.layers is not None:
        options["layers"] = tuple(args.layers)
    return DreamParams(**{k: v for k, v in options.items() if v is not None})  # type: ignore[arg-type]


def _dream(args: argparse.Namespace) -> int:
    params = _params(args)
    output: Path = args.output
    if _wants_animation(output, args.input):
        return _dream_animation(args, params)
    fmt = _FORMATS.get(output.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_FORMATS))
        raise _UsageError(f"cannot tell the format of '{output}': end it with one of {known}")
    if not output.parent.is_dir():
        raise _UsageError(f"cannot write '{output}': there is no folder '{output.parent}'")
    picture = decode(_read(args.input), max_side=params.max_side)
    guide = decode(_read(args.guide), max_side=params.max_side).rgb if args.guide else None

    started = time.perf_counter()
    dreamer = _dreamer(args, _weights(args, params))
    with _progress_bar(args) as bar:
        dreamed = dreamer.dream(picture.rgb, params, guide=guide, progress=bar)
    _save(dreamed, picture.alpha, output, fmt)
    if not args.quiet:
        seconds = time.perf_counter() - started
        width, height = dreamed.size
        print(
            f"{PROG}: wrote {output} ({width}x{height} {fmt}, {params.model}, "
            f"{dreamer.device}) in {seconds:.1f} s",
            file=sys.stderr,
        )
    return 0


def _read(path: Path) -> bytes:
    if path.is_dir():
        raise _UsageError(f"'{path}' is a folder, not a picture")
    return path.read_bytes()


def _save(rgb: Image.Image, alpha: Image.Image | None, path: Path, fmt: str) -> None:
    if fmt == "PNG":
        data = encode(rgb, alpha=alpha, stem=path.stem).data
    else:
        # JPEG has no alpha channel: the dream is written opaque there
        image = put_alpha(rgb, alpha) if fmt == "WEBP" else rgb
        image.info = {}
        buffer = BytesIO()
        quality = _JPEG_QUALITY if fmt == "JPEG" else _WEBP_QUALITY
        # no exif= or icc_profile= arguments: nothing but the pixels is written
        image.save(buffer, format=fmt, quality=quality)
        data = buffer.getvalue()
    path.write_bytes(data)


# --- moving dreams: `deepdream zoom` and every frame of an animation ---------------------------


def _add_animation_options(parser: argparse.ArgumentParser) -> None:
    defaults = AnimationParams()
    group = parser.add_argument_group(
        "animations", "a .gif or .mp4 output (or .webp from an animated input) dreams every frame"
    )
    group.add_argument(
        "--blend",
        type=float,
        metavar="W",
        help="how much of the previous frame's dream each frame starts from, 0 to 0.99 "
        f"(default {defaults.blend:g}; 0 dreams each frame alone)",
    )
    group.add_argument(
        "--max-frames",
        type=int,
        metavar="N",
        help=f"refuse animations with more frames (default {_MAX_FRAMES})",
    )
    group.add_argument(
        "--sample", action="store_true", help="over --max-frames, dream every n-th frame instead"
    )


def _add_zoom_options(parser: argparse.ArgumentParser) -> None:
    defaults = ZoomParams()
    group = parser.add_argument_group("zoom")
    group.add_argument(
        "--frames", type=int, metavar="N", help=f"frames to make (default {defaults.frames})"
    )
    group.add_argument(
        "--zoom",
        type=float,
        metavar="Z",
        help=f"how much larger each frame gets: 0.05 is 5%% (default {defaults.zoom:g})",
    )
    group.add_argument(
        "--rotate",
        type=float,
        metavar="DEG",
        help=f"degrees each frame turns, anticlockwise (default {defaults.rotate:g})",
    )
    group.add_argument(
        "--fps", type=float, metavar="F", help=f"frames per second (default {defaults.fps:g})"
    )


def _wants_animation(output: Path, source: Path) -> bool:
    suffix = output.suffix.lower()
    if suffix in _ALWAYS_ANIMATED:
        return True
    return suffix == ".webp" and decode(_read(source), max_side=64).frames > 1


def _animation_output(output: Path) -> str:
    fmt = _ANIMATION_FORMATS.get(output.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_ANIMATION_FORMATS))
        raise _UsageError(f"an animation is written as {known}, not '{output.suffix}'")
    if not output.parent.is_dir():
        raise _UsageError(f"cannot write '{output}': there is no folder '{output.parent}'")
    return fmt


def _zoom(args: argparse.Namespace) -> int:
    output: Path = args.output
    fmt = _animation_output(output)
    unused = [
        flag
        for flag, value in (
            ("--octaves", args.octaves),
            ("--octave-scale", args.octave_scale),
            ("--guide", args.guide),
            ("--blend", args.blend),
            ("--max-frames", args.max_frames),
            ("--sample", args.sample or None),
        )
        if value is not None
    ]
    if unused:
        raise _UsageError(f"{', '.join(unused)} do not apply to a zoom (one octave per frame)")
    params = _params(args)
    options = {
        "frames": args.frames,
        "zoom": args.zoom,
        "rotate": args.rotate,
        "steps": args.steps,
        "fps": args.fps,
    }
    settings = ZoomParams(**{k: v for k, v in options.items() if v is not None})
    picture = decode(_read(args.input), max_side=params.max_side)
    started = time.perf_counter()
    dreamer = _dreamer(args, _weights(args, params))
    with _progress_bar(args) as bar:
        animation = zoom(dreamer, picture.rgb, params, settings, progress=bar)
    _save_animation(animation, output, fmt)
    _summary(args, output, fmt, animation, params, dreamer, started)
    return 0


def _dream_animation(args: argparse.Namespace, params: DreamParams) -> int:
    output: Path = args.output
    fmt = _animation_output(output)
    if args.guide is not None:
        raise _UsageError("--guide works on single pictures, not on every frame of an animation")
    options = {"blend": args.blend, "sample": args.sample}
    max_frames = args.max_frames or _MAX_FRAMES
    settings = AnimationParams(
        max_frames=max_frames,
        max_pixels=max_frames * _MAX_FRAME_PIXELS // _MAX_FRAMES,
        **{k: v for k, v in options.items() if v is not None},
    )
    try:
        source = decode_animation(
            _read(args.input),
            max_side=params.max_side,
            max_frames=settings.max_frames,
            max_pixels=settings.max_pixels,
            sample=settings.sample,
        )
    except BudgetExceeded as error:
        raise _UsageError(f"{error} (raise --max-frames, or --sample every n-th frame)") from None
    if source.note is not None and not args.quiet:
        print(f"{PROG}: dreaming {source.note}", file=sys.stderr)
    started = time.perf_counter()
    dreamer = _dreamer(args, _weights(args, params))
    with _progress_bar(args) as bar:
        animation = dream_frames(dreamer, source, params, settings, progress=bar)
    _save_animation(animation, output, fmt)
    _summary(args, output, fmt, animation, params, dreamer, started)
    return 0


def _dreamer(args: argparse.Namespace, weights: dict[str, str | Path] | None) -> Dreamer:
    use_cpu_threads(args.threads or None)
    keep_freed_memory()
    return Dreamer(device=args.device, weights=weights)


def _weights(args: argparse.Namespace, params: DreamParams) -> dict[str, str | Path] | None:
    return {params.model: args.weights} if args.weights else None


def _save_animation(animation: Animation, path: Path, fmt: str) -> None:
    if fmt == "GIF":
        data = encode_gif(animation, colors=_GIF_COLOURS)
    elif fmt == "WEBP":
        data = encode_webp(animation, quality=_WEBP_QUALITY)
    else:
        data = encode_mp4(animation, crf=_MP4_CRF)
    path.write_bytes(data)


def _summary(
    args: argparse.Namespace,
    output: Path,
    fmt: str,
    animation: Animation,
    params: DreamParams,
    dreamer: Dreamer,
    started: float,
) -> None:
    if args.quiet:
        return
    seconds = time.perf_counter() - started
    width, height = animation.size
    print(
        f"{PROG}: wrote {output} ({len(animation.frames)} frames of {width}x{height} {fmt}, "
        f"{params.model}, {dreamer.device}) in {seconds:.1f} s",
        file=sys.stderr,
    )


def _list_layers(args: argparse.Namespace, out: TextIO) -> int:
    names = available_models()
    if args.model is not None and args.model not in names:
        raise UnknownModel(f"There is no model '{args.model}'; choose one of {', '.join(names)}.")
    for name in names if args.model is None else (args.model,):
        default = default_preset(name).name
        print(f"{name} - {MODEL_DESCRIPTIONS.get(name, '')}", file=out)
        for preset in presets(name):
            mark = " (default)" if preset.name == default else ""
            print(f"  {preset.name}{mark}: {', '.join(preset.layers)}", file=out)
            print(f"      {preset.description}", file=out)
        if args.model is not None:
            print("  layers:", file=out)
            for layer in layer_names(name):
                print(f"    {layer}", file=out)
    if args.model is None:
        print(f"\n`{PROG} layers --model M` lists every layer name of model M.", file=out)
    print(
        f"Mix up to {MAX_TERMS} presets or layers with + (--layers eyes+animals); "
        "layer:N dreams channel N of a layer alone (--layers blocks.4:12).",
        file=out,
    )
    return 0


@contextlib.contextmanager
def _progress_bar(args: argparse.Namespace) -> Iterator[_ProgressBar | None]:
    """The bar on stderr (none with --quiet), ended with its newline however the dream ends."""
    bar = None if args.quiet else _ProgressBar(sys.stderr)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


class _ProgressBar:
    """A one-line bar on a terminal, redrawn in place after every step."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._drawn = False
        self._started = time.perf_counter()

    def __call__(self, progress: Progress) -> None:
        if not self._live:
            return
        filled = round(self.WIDTH * progress.fraction)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        seconds = time.perf_counter() - self._started
        where = f"octave {progress.octave}/{progress.octaves}"
        if isinstance(progress, FrameProgress):
            where = f"frame {progress.frame}/{progress.frames}"
        self._stream.write(
            f"\r[{bar}] {progress.done}/{progress.total} steps, {where}, {seconds:.1f} s"
        )
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def _configure_logging() -> None:
    # Warnings from the engine (random weights, slow fallbacks) reach the person; a host
    # program that configured logging itself keeps its own setup.
    if not logging.getLogger().handlers:
        logging.basicConfig(format=f"{PROG}: %(message)s", level=logging.WARNING)


def _silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _describe_os_error(error: OSError) -> str:
    reason = error.strerror or str(error)
    if error.filename is not None:
        return f"'{error.filename}': {reason}"
    return reason


def _fail(message: str, code: int) -> int:
    message = " ".join(message.split())  # one line, whatever the error held
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code
