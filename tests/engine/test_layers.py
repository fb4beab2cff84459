"""Tests for the layer presets: the table itself, and resolving names into layers."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ParamsError, UnknownLayer, UnknownModel
from engine.layers import (
    DEFAULT_PRESET,
    PRESETS,
    Recipe,
    default_preset,
    parse_recipe,
    presets,
    resolve_layers,
)
from engine.models import (
    DreamModel,
    available_models,
    clear_model_cache,
    layer_channels,
    layer_names,
    load_model,
)
from engine.params import MAX_TERMS, DreamParams, recipe_terms


@pytest.fixture(scope="module")
def effnet() -> DreamModel:
    return load_model("efficientnet_lite0")


def test_every_model_has_a_short_clear_table() -> None:
    """Each model has 5-8 uniquely named presets with a one-line description and layers."""
    assert set(PRESETS) == set(available_models())
    for table in PRESETS.values():
        assert 5 <= len(table) <= 8
        names = [p.name for p in table]
        assert len(set(names)) == len(names)
        assert DEFAULT_PRESET in names
        for preset in table:
            assert preset.name == preset.name.lower().strip()
            assert preset.layers and len(preset.layers) == len(set(preset.layers))
            assert preset.description and "\n" not in preset.description


@pytest.mark.slow
@pytest.mark.parametrize("model", ["efficientnet_lite0", "googlenet", "inception_v3", "vgg16"])
def test_every_preset_resolves_on_its_model(model: str) -> None:
    """Every preset's layers exist in the built model, ordered from shallow to deep."""
    weights = None if model == "efficientnet_lite0" else "random"
    built = load_model(model, weights=weights)
    depth = {name: i for i, name in enumerate(built.layer_names)}
    deepest = []
    for preset in presets(model):
        assert resolve_layers(built, [preset.name]) == preset.layers
        assert all(layer in depth for layer in preset.layers)
        deepest.append(max(depth[layer] for layer in preset.layers))
    assert deepest == sorted(deepest)
    clear_model_cache()


def test_googlenet_default_is_inception4c() -> None:
    """googlenet's default preset is the classic inception4c."""
    assert default_preset("googlenet").layers == ("inception4c",)


def test_no_names_give_the_default_preset(effnet: DreamModel) -> None:
    """An empty layer list resolves to the model's default preset."""
    assert resolve_layers(effnet, ()) == default_preset("efficientnet_lite0").layers


def test_presets_and_raw_layers_mix(effnet: DreamModel) -> None:
    """Preset names and raw layer names (any case) combine, shallow to deep, without repeats."""
    layers = resolve_layers(effnet, ["Classic", "blocks.2.1", "CONV_STEM", "blocks.4"])
    assert layers == ("conv_stem", "blocks.2.1", "blocks.4")


def test_unknown_layer_suggests_the_closest(effnet: DreamModel) -> None:
    """An unknown name raises UnknownLayer with the closest match and the valid presets."""
    with pytest.raises(UnknownLayer) as info:
        resolve_layers(effnet, ["patern"])
    message = str(info.value)
    assert "Did you mean 'patterns'?" in message
    assert all(p.name in message for p in presets("efficientnet_lite0"))


def test_presets_of_an_unknown_model() -> None:
    """Asking for the presets of an unknown model raises UnknownModel."""
    with pytest.raises(UnknownModel, match="googlenet"):
        presets("alexnet")


# --- recipes: several presets or layers, and single channels ---------------------------------

EFFNET_TERMS = [
    *(p.name for p in PRESETS["efficientnet_lite0"]),
    "blocks.2.1",
    "conv_stem",
    "blocks.4:12",
    "blocks.5.0:0",
    "blocks.1:23",
]


def test_a_recipe_mixes_presets_by_plus() -> None:
    """`eyes+animals` dreams both presets' layers, and reads back as written."""
    recipe = parse_recipe("eyes+animals")
    assert recipe == Recipe("efficientnet_lite0", ("eyes", "animals"), ("blocks.4.0", "blocks.5.0"))
    assert str(recipe) == "eyes+animals"


def test_a_recipe_mixes_raw_layers_of_googlenet() -> None:
    """`inception4c+inception4d` names two raw googlenet layers, checked without any weights."""
    recipe = parse_recipe("Inception4D + inception4c", "googlenet")
    assert recipe.layers == ("inception4c", "inception4d")


def test_a_channel_term_keeps_its_channel() -> None:
    """`blocks.4:12` dreams channel 12 of blocks.4; leading zeros and spaces are normalised."""
    recipe = parse_recipe(" eyes + BLOCKS.4 : 012 ")
    assert recipe.terms == ("eyes", "blocks.4:12")
    assert recipe.layers == ("blocks.4.0", "blocks.4:12")


@settings(deadline=None)
@given(st.permutations(EFFNET_TERMS), st.integers(1, MAX_TERMS), st.booleans())
def test_order_case_and_repeats_do_not_change_a_recipe(
    terms: list[str], count: int, upper: bool
) -> None:
    """Any order, case or repetition of the same terms gives the same recipe."""
    chosen = terms[:count]
    reference = parse_recipe("+".join(sorted(chosen)))
    written = [t.upper() if upper else t for t in reversed(chosen)]
    assert parse_recipe("+".join(written + written[:1])) == reference
    assert parse_recipe(written) == reference
    depth = {layer: i for i, layer in enumerate(layer_names("efficientnet_lite0"))}
    layer_depths = [depth[layer.split(":")[0]] for layer in reference.layers]
    assert layer_depths == sorted(layer_depths)
    assert len(set(reference.layers)) == len(reference.layers)


def test_nothing_is_the_default_preset() -> None:
    """A blank recipe, or none, is the model's default preset."""
    assert parse_recipe("  ") == parse_recipe(()) == parse_recipe("classic")
    assert parse_recipe("", "googlenet").layers == ("inception4c",)


def test_a_loaded_model_and_its_name_parse_alike(effnet: DreamModel) -> None:
    """parse_recipe takes a loaded model as well as a model's name."""
    assert parse_recipe("fur+blocks.2:3", effnet) == parse_recipe("fur+blocks.2:3")


def test_more_than_four_terms_are_refused() -> None:
    """Five different terms raise ParamsError naming the limit; repeats do not count."""
    assert parse_recipe("eyes+eyes+Eyes+fur+fur").terms == ("eyes", "fur")
    with pytest.raises(ParamsError, match=f"at most {MAX_TERMS}"):
        parse_recipe("strokes+textures+patterns+eyes+fur")


@pytest.mark.parametrize(
    ("recipe", "error", "message"),
    [
        ("eyes+", ParamsError, "empty part"),
        ("+", ParamsError, "empty part"),
        ("blocks.4:", ParamsError, "like blocks.4:12"),
        ("blocks.4:-1", ParamsError, "like blocks.4:12"),
        (":3", ParamsError, "like blocks.4:12"),
        ("blocks.4:112", ParamsError, "channels 0 to 111; there is no channel 112"),
        ("eyes:3", ParamsError, "write e.g. blocks.4.0:3"),
        ("eyes+blocks.44", UnknownLayer, "Did you mean 'blocks.4'?"),
        ("blocks.44:3", UnknownLayer, "Did you mean 'blocks.4'?"),
    ],
)
def test_bad_recipes_raise_a_clear_error(recipe: str, error: type[Exception], message: str) -> None:
    """Each malformed or unknown term raises its engine error with a message saying what to do."""
    with pytest.raises(error, match=re.escape(message)):
        parse_recipe(recipe)


def test_channel_counts_come_from_the_architecture(effnet: DreamModel) -> None:
    """layer_channels matches the channels of a real forward pass, for every layer."""
    counts = layer_channels("efficientnet_lite0")
    outputs = effnet.forward_layers(torch.rand(1, 3, 64, 64), effnet.layer_names)
    assert {n: out.shape[1] for n, out in zip(effnet.layer_names, outputs, strict=True)} == counts
    assert layer_channels("googlenet")["inception4c"] == 512


def test_the_last_channel_of_a_layer_is_accepted() -> None:
    """Channel C-1 of a layer of C channels parses; so does a class of the logits."""
    last = layer_channels("vgg16")["features.22"] - 1
    assert parse_recipe(f"features.22:{last}", "vgg16").layers == (f"features.22:{last}",)
    assert parse_recipe("logits:1").layers == ("logits:1",)


def test_params_check_a_recipe_without_a_model() -> None:
    """DreamParams refuses malformed recipes at once; unknown names wait for the model."""
    assert DreamParams(layers=("eyes+animals", "nonsense:3")).layers[1] == "nonsense:3"
    with pytest.raises(ParamsError, match="Layer names cannot be empty"):
        DreamParams(layers=(" ",))
    with pytest.raises(ParamsError, match="at most"):
        DreamParams(layers=("a+b", "c+d+e"))
    with pytest.raises(ParamsError, match=re.escape("like blocks.4:12")):
        DreamParams(layers=("blocks.4:twelve",))
    assert recipe_terms(("eyes+animals", "EYES")) == ("eyes", "animals")
