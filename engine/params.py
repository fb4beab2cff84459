"""The settings of one dream (`DreamParams`) and the progress it reports (`Progress`)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ParamsError

__all__ = ["DreamParams", "Progress"]

# Google's classic step was 1.5 on a 0..255 scale; 2.5 times that gives a clearly visible dream
# on the default model in the default 4 x 10 steps (compared side by side on the sample photos).
BASE_STEP = 3.75 / 255


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ParamsError(f"{name} must be between {low:g} and {high:g}, not {value:g}.")


@dataclass(frozen=True, kw_only=True, slots=True)
class DreamParams:
    """Everything that decides how a picture is dreamed; validated on construction."""

    model: str = "efficientnet_lite0"
    # preset names or raw module names; empty means the model's default preset
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

    def __post_init__(self) -> None:
        if not self.model:
            raise ParamsError("Choose a model.")
        if any(not name.strip() for name in self.layers):
            raise ParamsError("Layer names cannot be empty.")
        _check_range("octaves", self.octaves, 1, 10)
        _check_range("octave scale", self.octave_scale, 1.05, 2.0)
        _check_range("steps", self.steps, 1, 200)
        _check_range("strength", self.strength, 0.05, 10.0)
        _check_range("jitter", self.jitter, 0, 256)
        _check_range("max side", self.max_side, 32, 8192)
        _check_range("tile size", self.tile_size, 64, 4096)
        _check_range("class weight", self.class_weight, 0.0, 100.0)
        _check_range("guide weight", self.guide_weight, 0.0, 100.0)
        if self.seed is not None:
            _check_range("seed", self.seed, 0, 2**32 - 1)
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
