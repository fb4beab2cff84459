"""Tests for the layer presets: the table itself, and resolving names into layers."""

from __future__ import annotations

import pytest

from engine.errors import UnknownLayer, UnknownModel
from engine.layers import DEFAULT_PRESET, PRESETS, default_preset, presets, resolve_layers
from engine.models import DreamModel, available_models, clear_model_cache, load_model


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
    """Preset names and raw layer names (any case) combine, in order, without repeats."""
    layers = resolve_layers(effnet, ["Classic", "blocks.2.1", "CONV_STEM", "blocks.4"])
    assert layers == ("blocks.4", "blocks.2.1", "conv_stem")


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
