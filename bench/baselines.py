"""Reference dream loops the engine is measured against: the naive loop and the fastest peer's.

Both take an RGB picture and return the dreamed picture, the objective it reaches and the time
the loop took. The objective is always measured the same way, outside the timed part, by
`ReferenceNet.objective`: the mean of the squared fp32 activations at the target layers of the
final, full-size picture, summed over layers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from engine.params import DreamParams
from engine.transforms import from_pil, octave_sizes, resize, roll, to_pil

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Classic",
    "LoopResult",
    "PeerGoogLeNet",
    "ReferenceNet",
    "googlenet_state_dict",
    "naive_dream",
    "peer_dream",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, kw_only=True)
class Classic:
    """The classic dream every loop runs: Google's notebook settings, with the engine's step."""

    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10
    jitter: int = 32
    # the engine's default step (DreamParams(strength=1.0).step_size) on the [0, 1] scale
    step_size: float = DreamParams().step_size
    seed: int = 0

    @property
    def total_steps(self) -> int:
        return self.octaves * self.steps


@dataclass(frozen=True)
class LoopResult:
    picture: Image.Image
    # mean squared activation at the target layers of the final picture (ReferenceNet.objective);
    # None when the caller measures it itself
    objective: float | None
    # wall time of the loop alone, without the objective measurement
    seconds: float
    steps: int


def googlenet_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Untrained torchvision GoogLeNet weights, the same for a seed, in the layout of
    torchvision's ImageNet file (aux heads included), so that the engine can load them too.

    torchvision's own init (std 0.01) makes inception4c's activations vanish to ~1e-8 and its
    gradients into the slow subnormal range on a CPU; He init keeps them at a trained net's
    scale, so the timing is honest and the objective still moves."""
    from torchvision.models import googlenet

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = googlenet(weights=None, aux_logits=True, transform_input=False, init_weights=False)
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
    return net.state_dict()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ReferenceNet:
    """A whole classifier as written, run in fp32, with forward hooks capturing named layers."""

    def __init__(
        self,
        net: nn.Module,
        *,
        device: torch.device | str = "cpu",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.device = torch.device(device)
        self.net = net.eval().to(self.device).requires_grad_(False)
        self.modules = dict(self.net.named_modules())
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)

    @classmethod
    def googlenet(
        cls, state_dict: dict[str, torch.Tensor], *, device: torch.device | str = "cpu"
    ) -> ReferenceNet:
        """torchvision GoogLeNet with transform_input off, fed ImageNet-normalised input mapped
        to [-1, 1] as transform_input would (its weights come from TensorFlow): one
        normalisation, (x - 0.5) / 0.5, the same arithmetic as the engine's."""
        from torchvision.models import googlenet

        net = googlenet(weights=None, aux_logits=True, transform_input=False, init_weights=False)
        net.load_state_dict(state_dict)
        net.aux1 = net.aux2 = None  # eval mode never runs them; drop them like torchvision does
        net.aux_logits = False
        return cls(net, device=device, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    @classmethod
    def engine_network(cls, name: str, *, device: torch.device | str = "cpu") -> ReferenceNet:
        """The engine's network with its default weights as built, before folding or cutting."""
        from engine.models import _build_network, load_model

        folded = load_model(name)  # only for its normalisation constants
        mean = folded.mean.flatten().tolist()
        std = folded.std.flatten().tolist()
        return cls(_build_network(name), device=device, mean=mean, std=std)

    def layers(self, x: torch.Tensor, names: Sequence[str]) -> list[torch.Tensor]:
        """Activations of ``names`` for pictures in [0, 1], running the whole network."""
        captured: dict[str, torch.Tensor] = {}
        handles = []
        for name in names:
            if name not in self.modules:
                raise KeyError(f"{type(self.net).__name__} has no layer {name!r}")

            def hook(_m: nn.Module, _i: object, out: torch.Tensor, name: str = name) -> None:
                captured[name] = out

            handles.append(self.modules[name].register_forward_hook(hook))
        try:
            self.net((x - self.mean) / self.std)
        finally:
            for handle in handles:
                handle.remove()
        return [captured[name] for name in names]

    @torch.no_grad()
    def objective(self, picture: Image.Image, names: Sequence[str]) -> float:
        """The dream objective of a whole picture: sum over layers of mean squared activation."""
        x = from_pil(picture, self.device)
        return float(sum(act.float().square().mean() for act in self.layers(x, names)))


def naive_dream(
    picture: Image.Image,
    net: ReferenceNet,
    layers: Sequence[str],
    settings: Classic = Classic(),
    *,
    evaluate: bool = True,
    progress: Callable[[int], None] | None = None,
) -> LoopResult:
    """The classic dream as a first PyTorch port writes it: the whole network every step, weight
    gradients computed and thrown away, fp32, contiguous memory, a hook on the target layer."""
    model = net.net.requires_grad_(True)
    try:
        return _naive(picture, net, layers, settings, evaluate=evaluate, progress=progress)
    finally:
        model.requires_grad_(False).zero_grad(set_to_none=True)


def _naive(
    picture: Image.Image,
    net: ReferenceNet,
    layers: Sequence[str],
    settings: Classic,
    *,
    evaluate: bool,
    progress: Callable[[int], None] | None,
) -> LoopResult:
    device = net.device
    jitter = torch.Generator().manual_seed(settings.seed)
    _sync(device)
    started = time.perf_counter()

    source = from_pil(picture, device)
    sizes = octave_sizes(*source.shape[-2:], octaves=settings.octaves, scale=settings.octave_scale)
    detail = torch.zeros_like(resize(source, sizes[0]))
    image = source
    done = 0
    for size in sizes:
        base = resize(source, size)
        image = base + resize(detail, size)
        for _ in range(settings.steps):
            shift = torch.randint(-settings.jitter, settings.jitter + 1, (2,), generator=jitter)
            dy, dx = int(shift[0]), int(shift[1])
            x = roll(image, dy, dx).detach().requires_grad_(True)
            acts = net.layers(x, layers)
            loss = sum(act.square().mean() for act in acts)
            net.net.zero_grad(set_to_none=False)
            loss.backward()  # type: ignore[union-attr]
            assert x.grad is not None
            grad = roll(x.grad, -dy, -dx)
            image = (image + settings.step_size * grad / (grad.abs().mean() + 1e-8)).clamp(0, 1)
            done += 1
            if progress is not None:
                progress(done)
        detail = image - base
    result = to_pil(image)
    _sync(device)
    seconds = time.perf_counter() - started
    objective = net.objective(result, layers) if evaluate else None
    return LoopResult(result, objective, seconds, done)


class PeerGoogLeNet(nn.Module):
    """gordicaleksa/pytorch-deepdream's GoogLeNet wrapper: conv1 up to inception4e every pass,
    whichever layer is dreamed, returning inception3b, 4c, 4d and 4e."""

    layer_names = ("inception3b", "inception4c", "inception4d", "inception4e")

    def __init__(self, googlenet: nn.Module) -> None:
        super().__init__()
        for name in (
            "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b",
            "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d", "inception4e",
        ):  # fmt: skip
            setattr(self, name, getattr(googlenet, name))  # shared, frozen

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # The peer's `if self.transform_input:` tests a bound method, so it always maps its
        # ImageNet-normalised input to the [-1, 1] range the ImageNet weights expect.
        x = torch.cat(
            (
                x[:, :1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                x[:, 2:] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5,
            ),
            1,
        )
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.inception3a(x)
        inception3b = x = self.inception3b(x)
        x = self.inception4b(self.inception4a(self.maxpool3(x)))
        inception4c = x = self.inception4c(x)
        inception4d = x = self.inception4d(x)
        inception4e = self.inception4e(x)
        return inception3b, inception4c, inception4d, inception4e


def _cascade_gaussian(grad: torch.Tensor, sigma: float, kernel_size: int = 9) -> torch.Tensor:
    # The peer's CascadeGaussianSmoothing, rebuilt every step as it does: three depthwise
    # Gaussian blurs (sigma x 0.5, 1, 2) of a reflect-padded gradient, averaged.
    grid = torch.arange(kernel_size, dtype=torch.float32)
    centre = (kernel_size - 1) / 2
    pad = kernel_size // 2
    padded = F.pad(grad, [pad, pad, pad, pad], mode="reflect")
    out = torch.zeros_like(grad)
    for coeff in (0.5, 1.0, 2.0):
        std = coeff * sigma
        g1 = 1 / (std * math.sqrt(2 * math.pi)) * torch.exp(-(((grid - centre) / std) ** 2) / 2)
        kernel = torch.outer(g1, g1)
        kernel = (kernel / kernel.sum()).view(1, 1, kernel_size, kernel_size).repeat(3, 1, 1, 1)
        out = out + F.conv2d(padded, kernel.to(grad.device), groups=grad.shape[1])
    return out / 3


def peer_dream(
    picture: Image.Image,
    net: ReferenceNet,
    layers: Sequence[str],
    settings: Classic = Classic(),
    *,
    lr: float = 0.09,
    smoothing: float = 0.5,
    evaluate: bool = True,
    progress: Callable[[int], None] | None = None,
) -> LoopResult:
    """gordicaleksa/pytorch-deepdream's `deep_dream_static_image` on a GoogLeNet, step for step.

    In ImageNet-normalised space; each octave resizes the whole picture (no detail re-injection);
    each step rolls, runs the wrapper, backpropagates the mean of the chosen layers' MSE against
    zero, blurs the gradient with the growing-sigma cascade, standardises it, adds ``lr`` times
    it and clamps to the normalised [0, 1] bounds. fp32, frozen weights, contiguous memory."""
    device = net.device
    model = PeerGoogLeNet(net.net).to(device).eval()
    layer_ids = [model.layer_names.index(name) for name in layers]
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    lower = torch.from_numpy(-mean / std).view(1, 3, 1, 1).to(device)
    upper = torch.from_numpy((1 - mean) / std).view(1, 3, 1, 1).to(device)
    rng = np.random.default_rng(settings.seed)
    _sync(device)
    started = time.perf_counter()

    img = (np.asarray(picture.convert("RGB"), dtype=np.float32) / 255 - mean) / std  # H x W x 3
    base_shape = np.asarray(img.shape[:2], dtype=np.float32)
    done = 0
    for level in range(settings.octaves):
        exponent = level - settings.octaves + 1
        new_shape = np.round(base_shape * settings.octave_scale**exponent).astype(np.int32)
        # the peer resizes on the host between octaves (cv.resize, bilinear)
        host = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
        host = F.interpolate(
            host, size=tuple(int(s) for s in new_shape), mode="bilinear", align_corners=False
        )
        x = host.to(device).requires_grad_(True)
        for iteration in range(settings.steps):
            dy, dx = (int(v) for v in rng.integers(-settings.jitter, settings.jitter + 1, 2))
            with torch.no_grad():
                x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            x.requires_grad_(True)
            out = model(x)
            losses = [F.mse_loss(out[i], torch.zeros_like(out[i])) for i in layer_ids]
            loss = torch.mean(torch.stack(losses))
            loss.backward()
            assert x.grad is not None
            grad = x.grad.data
            sigma = ((iteration + 1) / settings.steps) * 2.0 + smoothing
            smooth = _cascade_gaussian(grad, sigma)
            smooth = (smooth - torch.mean(smooth)) / torch.std(smooth)
            x.data += lr * smooth
            x.grad.data.zero_()
            x.data = torch.max(torch.min(x, upper), lower)
            with torch.no_grad():
                x = torch.roll(x, shifts=(-dy, -dx), dims=(2, 3))
            x.requires_grad_(True)
            done += 1
            if progress is not None:
                progress(done)
        img = x.detach().to("cpu").numpy()[0].transpose(1, 2, 0)
    rgb = np.clip(img * std + mean, 0.0, 1.0)
    result = Image.fromarray(np.round(rgb * 255).astype(np.uint8), mode="RGB")
    _sync(device)
    seconds = time.perf_counter() - started
    objective = net.objective(result, layers) if evaluate else None
    return LoopResult(result, objective, seconds, done)
