"""The settings of one dream (`DreamParams`) and the progress it reports (`Progress`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import ParamsError

__all__ = ["MAX_TERMS", "DreamParams", "Progress", "recipe_terms", "split_channel"]

# Google's classic step was 1.5 on a 0..255 scale; 2.5 times that gives a clearly visible dream
# on the default model in the default 4 x 10 steps (compared side by side on the sample photos).
BASE_STEP = 3.75 / 255
# the most presets or layers one dream mixes (`eyes+animals`): each adds its own term
MAX_TERMS = 4
# `blocks.4:12` dreams channel 12 of blocks.4 alone, as Google's notebook dreams single channels
CHANNEL_MARK = ":"
# Off, chosen by looking at docs/smooth.jpg: smooth gives the coarsest band as much of each step
# as the finest, which washes whole regions of a photo into new colours; plain keeps the photo.
SMOOTH_DEFAULT = False


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise ParamsError unless ``low <= value <= high``, naming the setting."""
    if not low <= value <= high:
        raise ParamsError(f"{name} must be between {low:g} and {high:g}, not {value:g}.")


def recipe_terms(layers: str | Sequence[str]) -> tuple[str, ...]:
    """The terms of a layer recipe such as ``eyes+blocks.4:12``: every item split at ``+``,
    stripped, repeats (in any case) dropped, in the order written. Raises ParamsError for an
    empty term, a malformed channel or more than `MAX_TERMS` terms. Needs no model: presets and
    layers are not looked up (`engine.layers.parse_recipe` does that)."""
    if isinstance(layers, str):
        # a blank text box means no choice, as an empty tuple does
        items: Sequence[str] = (layers,) if layers.strip() else ()
    else:
        items = layers
    terms: dict[str, str] = {}
    for item in items:
        for term in item.split("+"):
            term = term.strip()
            if not term and "+" in item:
                raise ParamsError(
                    f"'{item.strip()}' has an empty part: join presets or layers with + "
                    "as in eyes+animals."
                )
            if not term:
                raise ParamsError("Layer names cannot be empty.")
            name, channel = split_channel(term)
            key = name.casefold() if channel is None else f"{name.casefold()}:{channel}"
            terms.setdefault(key, term)
    if len(terms) > MAX_TERMS:
        raise ParamsError(
            f"Mix at most {MAX_TERMS} presets or layers, not {len(terms)} "
            f"({'+'.join(terms.values())})."
        )
    return tuple(terms.values())


def split_channel(term: str) -> tuple[str, int | None]:
    """``"blocks.4:12"`` as ``("blocks.4", 12)``, ``"eyes"`` as ``("eyes", None)``."""
    name, mark, number = term.partition(CHANNEL_MARK)
    name, number = name.strip(), number.strip()
    if not mark:
        return name, None
    if not name or not (number.isascii() and number.isdigit()):
        raise ParamsError(
            f"'{term.strip()}' is not a layer and a channel number: write one like blocks.4:12."
        )
    return name, int(number)


@dataclass(frozen=True, kw_only=True, slots=True)
class DreamParams:
    """Everything that decides how a picture is dreamed; validated on construction."""

    model: str = "efficientnet_lite0"
    # preset names or raw module names, each item maybe a recipe like "eyes+blocks.4:12" (`+`
    # mixes up to MAX_TERMS, `:N` dreams one channel); empty means the model's default preset
    layers: tuple[str, ...] = ()
    # dream only these channels of the chosen layers; None means all channels
    channels: tuple[int, ...] | None = None
    # levels of the pyramid; the smallest is octave_scale**(octaves-1) times smaller
    octaves: int = 4
    octave_scale: float = 1.4
    # gradient-ascent steps at each octave
    steps: int = 10
    # multiplier on Google's classic step size
    strength: float = 1.0
    # random shift in pixels before each step, undone after it, against grid artefacts
    jitter: int = 32
    # longest side of the output; larger pictures are scaled down first
    max_side: int = 1024
    # same seed, same device, same picture: same dream
    seed: int | None = None
    # gradients are computed in tiles of this side once an octave is larger
    tile_size: int = 512
    # ImageNet class (name or index) whose logit is added to the objective
    dream_of: str | int | None = None
    class_weight: float = 1.0
    # how much a guide image's features steer the dream, when one is given
    guide_weight: float = 1.0
    # Laplacian-pyramid normalisation of each step's gradient (Google's lap_normalize): every
    # band of spatial frequency gets the same weight, so large shapes grow as fast as fine grain
    smooth: bool = SMOOTH_DEFAULT

    def __post_init__(self) -> None:
        if not self.model:
            raise ParamsError("Choose a model.")
        recipe_terms(self.layers)
        check_range("octaves", self.octaves, 1, 10)
        check_range("octave scale", self.octave_scale, 1.05, 2.0)
        check_range("steps", self.steps, 1, 200)
        check_range("strength", self.strength, 0.05, 10.0)
        check_range("jitter", self.jitter, 0, 256)
        check_range("max side", self.max_side, 32, 8192)
        check_range("tile size", self.tile_size, 64, 4096)
        check_range("class weight", self.class_weight, 0.0, 100.0)
        check_range("guide weight", self.guide_weight, 0.0, 100.0)
        if self.seed is not None:
            check_range("seed", self.seed, 0, 2**32 - 1)
        if self.channels is not None:
            if not self.channels:
                raise ParamsError("Give at least one channel, or none to use them all.")
            if any(c < 0 for c in self.channels):
                raise ParamsError("Channel numbers start at 0.")
        if isinstance(self.dream_of, str) and not self.dream_of.strip():
            raise ParamsError("The class to dream of cannot be empty.")

    @property
    def step_size(self) -> float:
        """Step length in [0, 1] pixel units."""
        return BASE_STEP * self.strength

    @property
    def total_steps(self) -> int:
        return self.octaves * self.steps


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a dream is: octave and step are 1-based; ``done`` of ``total`` steps."""

    octave: int
    octaves: int
    step: int
    steps: int

    @property
    def done(self) -> int:
        return (self.octave - 1) * self.steps + self.step

    @property
    def total(self) -> int:
        return self.octaves * self.steps

    @property
    def fraction(self) -> float:
        return self.done / self.total
