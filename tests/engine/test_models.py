"""Tests for the model registry: loading, weights files, truncation, folding and caching."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from engine.errors import ModelUnavailable, UnknownLayer, UnknownModel
from engine.models import (
    DEFAULT_MODEL,
    MODEL_DESCRIPTIONS,
    DreamModel,
    _build_network,
    available_models,
    clear_model_cache,
    fold_batch_norms,
    layer_names,
    load_model,
)

DATA = Path(__file__).parents[1] / "data"
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def effnet() -> DreamModel:
    return load_model("efficientnet_lite0")


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    """No cached googlenet from elsewhere answers instead, and no fake one stays behind."""
    clear_model_cache()
    yield
    clear_model_cache()


def _picture(side: int) -> torch.Tensor:
    image = Image.open(DATA / "chelsea.png").convert("RGB").resize((side, side))
    return torchvision.transforms.functional.to_tensor(image).unsqueeze(0)


def _googlenet_like_published() -> nn.Module:
    """An untrained googlenet shaped like torchvision's file, aux heads and real BN stats."""
    net = torchvision.models.googlenet(
        weights=None, aux_logits=True, transform_input=True, init_weights=False
    )
    generator = torch.Generator().manual_seed(0)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)
    return net.eval()


def test_registry_lists_the_offline_model_first() -> None:
    """available_models starts with the bundled model and every model has a description."""
    names = available_models()
    assert names[0] == DEFAULT_MODEL == "efficientnet_lite0"
    assert set(names) == {"efficientnet_lite0", "googlenet", "inception_v3", "vgg16"}
    assert set(MODEL_DESCRIPTIONS) == set(names)


def test_bundled_weights_see_a_cat(effnet: DreamModel) -> None:
    """The bundled efficientnet_lite0 weights classify the cat photo as a cat."""
    with torch.no_grad():
        probs = effnet.logits(_picture(224)).softmax(dim=1)
    assert 281 <= int(probs.argmax()) <= 285
    assert float(probs[0, 281:286].sum()) > 0.5


def test_model_is_frozen_folded_and_channels_last(effnet: DreamModel) -> None:
    """A loaded model is in eval mode, frozen, has no batch norms and channels-last weights."""
    assert not effnet.training
    assert all(not p.requires_grad for p in effnet.parameters())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in effnet.modules())
    convs = [m for m in effnet.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.bias is not None for c in convs)
    assert all(
        c.weight.is_contiguous(memory_format=torch.channels_last)
        for c in convs
        if c.weight.shape[-1] > 1
    )


def test_folding_keeps_the_logits(effnet: DreamModel) -> None:
    """Folded logits match the unfolded network's, activations after the BN included."""
    unfolded = _build_network("efficientnet_lite0")
    x = _picture(128)
    with torch.no_grad():
        expected = unfolded((x - IMAGENET_MEAN) / IMAGENET_STD)
        assert any(isinstance(m, nn.BatchNorm2d) for m in unfolded.modules())
        got = effnet.logits(x)
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3)


def test_fold_counts_every_conv_bn_pair() -> None:
    """fold_batch_norms folds every batch norm of googlenet and leaves none behind."""
    net = _googlenet_like_published()
    bns = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert fold_batch_norms(net) == bns
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_weights_file_loads_like_a_download(tmp_path: Path) -> None:
    """A googlenet state dict on disk loads, aux heads dropped, and matches torchvision's net.

    The reference runs with ImageNet normalisation plus transform_input, so a match also shows
    that the dream model normalises exactly once.
    """
    reference = _googlenet_like_published()
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    model = load_model("googlenet", weights=path)
    x = _picture(64)
    with torch.no_grad():
        expected = reference((x - IMAGENET_MEAN) / IMAGENET_STD)
        got = model.logits(x)
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-4)


@pytest.mark.usefixtures("fresh_cache")
def test_cached_checkpoint_loads_through_torch_hub(tmp_path: Path) -> None:
    """A checkpoint already in cache_dir goes through torch.hub's download path, offline."""
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    url = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.url
    torch.save(_googlenet_like_published().state_dict(), checkpoints / url.rsplit("/", 1)[1])
    model = load_model("googlenet", cache_dir=tmp_path)
    assert model.name == "googlenet"


@pytest.mark.usefixtures("fresh_cache")
def test_failed_download_names_the_offline_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no network, loading googlenet raises ModelUnavailable pointing to efficientnet_lite0."""

    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ModelUnavailable, match="efficientnet_lite0"):
        load_model("googlenet", cache_dir=tmp_path)


def test_unfit_weights_file_is_refused(tmp_path: Path) -> None:
    """A weights file of another architecture, or no file, raises ModelUnavailable."""
    path = tmp_path / "effnet.pth"
    torch.save(_build_network("efficientnet_lite0").state_dict(), path)
    with pytest.raises(ModelUnavailable, match="do not fit googlenet"):
        load_model("googlenet", weights=path)
    with pytest.raises(ModelUnavailable, match="no weights file"):
        load_model("googlenet", weights=tmp_path / "missing.pth")


def test_timm_named_weights_file_loads(tmp_path: Path, effnet: DreamModel) -> None:
    """An efficientnet_lite0 state dict in timm's own names loads like the bundled one."""
    path = tmp_path / "timm.pth"
    torch.save(_build_network("efficientnet_lite0").state_dict(), path)
    x = _picture(64)
    with torch.no_grad():
        torch.testing.assert_close(
            load_model("efficientnet_lite0", weights=path).logits(x), effnet.logits(x)
        )


@pytest.mark.usefixtures("fresh_cache")
def test_random_weights_warn_loudly(caplog: pytest.LogCaptureFixture) -> None:
    """weights="random" logs a warning that the model is for speed benchmarks only."""
    with caplog.at_level(logging.WARNING, logger="engine.models"):
        load_model("googlenet", weights="random")
    assert any(
        r.levelno == logging.WARNING and "benchmarks only" in r.getMessage() for r in caplog.records
    )


def test_forward_layers_stops_at_the_deepest_layer() -> None:
    """Stages above the deepest requested layer, and the head, never run."""
    model = load_model("googlenet", weights="random")
    calls: list[str] = []
    hooks = [
        model.stage(name).register_forward_hook(lambda *_, name=name: calls.append(name))
        for name in ("inception3a", "inception4c", "inception4d", "inception5b", "logits")
    ]
    try:
        with torch.no_grad():
            model.forward_layers(torch.rand(1, 3, 64, 64), ["conv1", "inception4c"])
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == ["inception3a", "inception4c"]


@pytest.mark.slow
def test_vgg_conv_output_survives_its_relu() -> None:
    """Asking for a VGG conv and the ReLU after it gives the conv's own, negative, values."""
    model = load_model("vgg16", weights="random")
    with torch.no_grad():
        conv, relu = model.forward_layers(torch.rand(1, 3, 32, 32), ["features.0", "features.1"])
    assert float(conv.min()) < 0 <= float(relu.min())
    torch.testing.assert_close(relu, conv.clamp(min=0))
    clear_model_cache()


def test_forward_layers_returns_in_the_order_asked(effnet: DreamModel) -> None:
    """Activations come back in the order asked; a group equals its last block; logits too."""
    x = _picture(96)
    with torch.no_grad():
        group, stem, last, logits = effnet.forward_layers(
            x, ["blocks.3", "conv_stem", "blocks.3.2", "logits"]
        )
        full = effnet.logits(x)
    assert stem.shape == (1, 32, 48, 48)
    assert group.shape == (1, 80, 6, 6)
    assert torch.equal(group, last)
    torch.testing.assert_close(logits, full)
    assert effnet.forward_layers(x, []) == []


def test_unknown_layer_in_forward_layers(effnet: DreamModel) -> None:
    """forward_layers with a name the model lacks raises UnknownLayer."""
    with pytest.raises(UnknownLayer, match="inception4c"):
        effnet.forward_layers(_picture(64), ["inception4c"])


def test_gradients_reach_the_input_only(effnet: DreamModel) -> None:
    """A backward pass to the input leaves every parameter's .grad None."""
    x = _picture(64).requires_grad_(True)
    effnet.forward_layers(x, ["blocks.3"])[0].square().mean().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in effnet.parameters())


def test_bfloat16_autocast(effnet: DreamModel) -> None:
    """Under bf16 autocast the activations are bf16 and close to the fp32 ones."""
    x = _picture(96)
    with torch.no_grad():
        (expected,) = effnet.forward_layers(x, ["blocks.4"])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            (got,) = effnet.forward_layers(x, ["blocks.4"])
    assert got.dtype == torch.bfloat16
    similarity = torch.cosine_similarity(got.float().flatten(), expected.flatten(), dim=0)
    assert float(similarity) > 0.98


@pytest.mark.slow
def test_forward_layers_compiles_without_graph_breaks(effnet: DreamModel) -> None:
    """torch.compile traces forward_layers in one graph (no Python control-flow breaks)."""
    torch._dynamo.reset()
    compiled = torch.compile(effnet.forward_layers, fullgraph=True, backend="eager")
    x = _picture(64)
    with torch.no_grad():
        got = compiled(x, ["blocks.2", "blocks.1"])
        expected = effnet.forward_layers(x, ["blocks.2", "blocks.1"])
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)
    torch._dynamo.reset()


def test_cache_returns_the_same_object(tmp_path: Path) -> None:
    """Same name, weights and device give the same object; other weights another one."""
    assert load_model("efficientnet_lite0") is load_model("efficientnet_lite0", device="cpu")
    assert load_model("efficientnet_lite0", weights="random") is not load_model(
        "efficientnet_lite0"
    )


def test_unknown_model_lists_the_valid_names() -> None:
    """An unknown model name raises UnknownModel naming every model."""
    with pytest.raises(UnknownModel) as info:
        load_model("resnet50")
    assert all(name in str(info.value) for name in available_models())


def test_layer_names_need_no_weights(effnet: DreamModel) -> None:
    """layer_names(name) lists the same layers as the loaded model, input to output."""
    assert layer_names("efficientnet_lite0") == effnet.layer_names
    assert effnet.layer_names[0] == "conv_stem"
    assert effnet.layer_names[-2:] == ("conv_head", "logits")
    assert "blocks.3" in effnet.layer_names and "blocks.3.1" in effnet.layer_names
    assert "inception4c" in layer_names("googlenet")
    assert layer_names("vgg16")[:2] == ("features.0", "features.1")
    assert "Mixed_7c" in layer_names("inception_v3")
