"""Layer presets as data: per model, named layer choices from shallow strokes to deep objects."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from engine.errors import ParamsError, UnknownLayer, UnknownModel
from engine.models import DEFAULT_MODEL, DreamModel, available_models, layer_channels, layer_names
from engine.params import CHANNEL_MARK, recipe_terms, split_channel

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "Preset",
    "Recipe",
    "default_preset",
    "parse_recipe",
    "presets",
    "resolve_layers",
]


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


@dataclass(frozen=True)
class Recipe:
    """A checked layer recipe of one model, in canonical order (shallow to deep, no repeats),
    so that the same mix written in another order or case is the same recipe and dream."""

    model: str
    # what was asked for: preset names, raw layer names in the model's spelling, "layer:N"
    terms: tuple[str, ...]
    # what the dream maximises: raw layer names, "layer:N" for a single channel
    layers: tuple[str, ...]

    def __str__(self) -> str:
        return "+".join(self.terms)


def parse_recipe(recipe: str | Sequence[str], model: str | DreamModel = DEFAULT_MODEL) -> Recipe:
    """Check a layer recipe such as ``eyes+animals`` or ``blocks.4:12+eyes`` against a model
    (a name, or a loaded model) without loading any weights.

    ``recipe``: one string, or several (the items of `DreamParams.layers`), each one or more
    preset or raw layer names (any case) joined by ``+``, at most `MAX_TERMS` in all; a raw
    layer may name one channel as ``layer:N``. Nothing at all gives the default preset.
    Raises ParamsError (empty or malformed term, too many terms, a channel the layer does not
    have), UnknownLayer (no such preset or layer, with the closest name) or UnknownModel.
    """
    name = model if isinstance(model, str) else model.name
    choices = presets(name)
    written = recipe_terms(recipe)
    if not written:
        default = default_preset(name)
        return Recipe(name, (default.name,), default.layers)
    known = layer_names(name) if isinstance(model, str) else model.layer_names
    depth = {layer: position for position, layer in enumerate(known)}
    by_preset = {p.name.casefold(): p for p in choices}
    by_layer = {layer.casefold(): layer for layer in known}
    terms: dict[str, tuple[tuple[int, int], ...]] = {}
    layers: dict[str, tuple[int, int]] = {}
    for text in written:
        base, channel = split_channel(text)
        key = base.casefold()
        preset = by_preset.get(key)
        if preset is not None and channel is None:
            term, found = preset.name, preset.layers
        elif key in by_layer:
            layer = by_layer[key]
            term = layer if channel is None else f"{layer}{CHANNEL_MARK}{channel}"
            if channel is not None:
                _check_channel(name, layer, channel)
            found = (term,)
        elif preset is not None:
            raise ParamsError(
                f"'{text}': a channel goes with a layer name, not a preset; {preset.name} "
                f"dreams {'+'.join(preset.layers)}, so write e.g. {preset.layers[0]}:{channel}."
            )
        else:
            raise _unknown(name, choices, known, base)
        for layer in found:
            layer_name, layer_channel = split_channel(layer)
            layers[layer] = (depth[layer_name], -1 if layer_channel is None else layer_channel)
        terms[term] = tuple(sorted(layers[layer] for layer in found))
    return Recipe(
        name,
        tuple(sorted(terms, key=lambda term: (terms[term], term))),
        tuple(sorted(layers, key=lambda layer: layers[layer])),
    )


def resolve_layers(model: DreamModel, names: Sequence[str]) -> tuple[str, ...]:
    """The layers (``layer`` or ``layer:N``) that preset names, raw layer names and recipes
    such as ``eyes+blocks.4:12`` stand for, shallow to deep without repeats; none gives the
    default preset. Raises as `parse_recipe` does."""
    return parse_recipe(names, model).layers


def _check_channel(model: str, layer: str, channel: int) -> None:
    count = layer_channels(model)[layer]
    if channel >= count:
        raise ParamsError(
            f"{layer} of {model} has channels 0 to {count - 1}; there is no channel {channel}."
        )


def _unknown(
    model: str, choices: Sequence[Preset], layers: Sequence[str], name: str
) -> UnknownLayer:
    names = [p.name for p in choices]
    candidates = {c.casefold(): c for c in [*names, *layers]}
    close = difflib.get_close_matches(name.strip().casefold(), list(candidates), n=1)
    hint = f" Did you mean '{candidates[close[0]]}'?" if close else ""
    return UnknownLayer(
        f"{model} has no preset or layer '{name}'.{hint} "
        f"Presets: {', '.join(names)}. Layers: {', '.join(layers)}."
    )
