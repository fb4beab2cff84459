"""Layer presets as data: per model, named layer choices from shallow strokes to deep objects."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import UnknownLayer, UnknownModel
from engine.models import DreamModel, available_models

__all__ = ["DEFAULT_PRESET", "PRESETS", "Preset", "default_preset", "presets", "resolve_layers"]


@dataclass(frozen=True)
class Preset:
    """A named choice of layers and the look it gives."""

    name: str
    layers: tuple[str, ...]
    description: str


# Every model's default preset is called "classic".
DEFAULT_PRESET = "classic"

# The efficientnet_lite0 descriptions come from dreaming the test photos with each layer; the
# others follow what those layers are known for (their weights cannot be fetched offline here).
# fmt: off
PRESETS: dict[str, tuple[Preset, ...]] = {
    "efficientnet_lite0": (
        Preset("strokes",  ("blocks.1",),   "colourful, worm-like strokes"),
        Preset("textures", ("blocks.2",),   "zebra stripes and woven ripples"),
        Preset("patterns", ("blocks.3",),   "ripples, swirls and the first eyes"),
        Preset("eyes",     ("blocks.4.0",), "eyes and bubbles everywhere"),
        Preset("classic",  ("blocks.4",),   "the classic dream: eyes and dog faces"),
        Preset("animals",  ("blocks.5.0",), "dog faces, snouts and fur"),
        Preset("fur",      ("blocks.5",),   "fine fur and knitted detail, subtle when small"),
    ),
    "googlenet": (
        Preset("strokes",  ("conv3",),       "bold colour strokes and simple edges"),
        Preset("textures", ("inception3b",), "woven textures and ripples"),
        Preset("patterns", ("inception4a",), "swirls, scales and repeating patterns"),
        Preset("eyes",     ("inception4b",), "eyes and spirals everywhere"),
        Preset("classic",  ("inception4c",), "Google's original dream: eyes, fur and dog-slugs"),
        Preset("animals",  ("inception4d",), "dog faces, birds and insects"),
        Preset("objects",  ("inception5a",), "whole objects, buildings and vehicles"),
    ),
    "inception_v3": (
        Preset("strokes",  ("Conv2d_4a_3x3",), "fine strokes and colour grain"),
        Preset("textures", ("Mixed_5b",),      "dense, knotted textures"),
        Preset("patterns", ("Mixed_5d",),      "ornaments and repeating patterns"),
        Preset("eyes",     ("Mixed_6a",),      "eyes and scales"),
        Preset("classic",  ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"),
               "a rich mix of patterns, eyes and animal parts"),
        Preset("objects",  ("Mixed_7a",),      "whole creatures and objects"),
    ),
    "vgg16": (
        Preset("strokes",  ("features.8",),  "painterly brush strokes"),
        Preset("textures", ("features.15",), "woven, scaly textures"),
        Preset("patterns", ("features.18",), "bold, repeating patterns"),
        Preset("classic",  ("features.22",), "eyes, feathers and fur in a painterly style"),
        Preset("animals",  ("features.27",), "animal faces and bodies"),
        Preset("objects",  ("features.29",), "whole objects and strange architecture"),
    ),
}
# fmt: on


def presets(model: str) -> tuple[Preset, ...]:
    """The model's presets, from shallow to deep."""
    found = PRESETS.get(model)
    if found is None:
        raise UnknownModel(
            f"There is no model '{model}'; choose one of {', '.join(available_models())}."
        )
    return found


def default_preset(model: str) -> Preset:
    """The preset a dream uses when no layers are given."""
    return next(p for p in presets(model) if p.name == DEFAULT_PRESET)


def resolve_layers(model: DreamModel, names: Sequence[str]) -> tuple[str, ...]:
    """Layer names for preset or raw layer names (any case); none gives the default preset."""
    if not names:
        return default_preset(model.name).layers
    by_preset = {p.name.casefold(): p.layers for p in presets(model.name)}
    by_layer = {layer.casefold(): layer for layer in model.layer_names}
    layers: list[str] = []
    for name in names:
        key = name.strip().casefold()
        if key in by_preset:
            layers.extend(by_preset[key])
        elif key in by_layer:
            layers.append(by_layer[key])
        else:
            raise _unknown(model, name)
    return tuple(dict.fromkeys(layers))


def _unknown(model: DreamModel, name: str) -> UnknownLayer:
    choices = [p.name for p in presets(model.name)]
    candidates = {c.casefold(): c for c in [*choices, *model.layer_names]}
    close = difflib.get_close_matches(name.strip().casefold(), list(candidates), n=1)
    hint = f" Did you mean '{candidates[close[0]]}'?" if close else ""
    return UnknownLayer(
        f"{model.name} has no preset or layer '{name}'.{hint} "
        f"Presets: {', '.join(choices)}. Layers: {', '.join(model.layer_names)}."
    )
