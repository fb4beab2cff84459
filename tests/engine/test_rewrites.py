"""Tests for the module rewrites: each computes what it replaces, values and input gradients."""

from __future__ import annotations

import timm
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torchvision.models.googlenet import Inception

from engine.models import fold_batch_norms
from engine.rewrites import FusedInception, SpaceToDepthConv, SubsampledDepthwiseConv, rewrite


def _value_and_gradient(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    y = module(x)
    # a fixed, position-dependent weighting, so a gradient routed to the wrong pixel shows
    weights = torch.linspace(-1, 1, y.numel()).view_as(y)
    (grad,) = torch.autograd.grad((y * weights).sum(), x)
    return y.detach(), grad


def _assert_computes_the_same(
    original: nn.Module, rewritten: nn.Module, x: torch.Tensor, *, tolerance: float = 1e-5
) -> None:
    expected, expected_grad = _value_and_gradient(original, x)
    got, got_grad = _value_and_gradient(rewritten, x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(got_grad, expected_grad, rtol=tolerance, atol=tolerance)


@settings(max_examples=40, deadline=None)
@given(
    kernel=st.tuples(st.integers(5, 8), st.integers(5, 8)),
    padding=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    size=st.tuples(st.integers(9, 23), st.integers(9, 23)),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_space_to_depth_conv_is_the_stride_2_conv(
    kernel: tuple[int, int],
    padding: tuple[int, int],
    size: tuple[int, int],
    bias: bool,
    seed: int,
) -> None:
    """Any kernel, padding and picture size (odd or even): same output, same input gradient."""
    torch.manual_seed(seed)
    conv = nn.Conv2d(3, 8, kernel, stride=2, padding=padding, bias=bias).requires_grad_(False)
    _assert_computes_the_same(conv, SpaceToDepthConv(conv), torch.rand(2, 3, *size))


@settings(max_examples=30, deadline=None)
@given(
    kernel=st.sampled_from([3, 5]),
    padding=st.integers(0, 2),
    size=st.tuples(st.integers(7, 21), st.integers(7, 21)),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_subsampled_depthwise_conv_is_the_strided_one(
    kernel: int, padding: int, size: tuple[int, int], bias: bool, seed: int
) -> None:
    """A stride-2 depthwise conv run at stride 1 and subsampled: same output and gradient."""
    torch.manual_seed(seed)
    conv = nn.Conv2d(6, 6, kernel, stride=2, padding=padding, groups=6, bias=bias)
    conv.requires_grad_(False)
    _assert_computes_the_same(conv, SubsampledDepthwiseConv(conv), torch.rand(2, 6, *size))


def _folded_googlenet() -> nn.Module:
    net = torchvision.models.googlenet(
        weights=None, aux_logits=False, transform_input=False, init_weights=True
    ).eval()
    generator = torch.Generator().manual_seed(0)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator))
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    fold_batch_norms(net)
    return net.requires_grad_(False)


def test_fused_inception_is_the_block() -> None:
    """Three 1x1 convolutions run as one give the block's output and input gradient."""
    block = _folded_googlenet().inception4c
    assert isinstance(block, Inception)
    fused = FusedInception(block)
    _assert_computes_the_same(block, fused, torch.randn(1, 512, 14, 11), tolerance=1e-4)
    assert sum(isinstance(m, nn.Conv2d) for m in fused.modules()) == 4


def test_rewrite_swaps_googlenets_stem_and_blocks_and_keeps_its_logits() -> None:
    """GoogLeNet: its 7x7 stem and nine Inception blocks are swapped; the logits stay."""
    net = _folded_googlenet()
    x = torch.rand(1, 3, 97, 131)
    expected = net(x)
    assert rewrite(net) == 10
    assert isinstance(net.conv1.conv, SpaceToDepthConv)
    assert not any(isinstance(m, Inception) for m in net.modules())
    torch.testing.assert_close(net(x), expected, rtol=1e-4, atol=1e-4)


def test_rewrite_swaps_efficientnets_strided_depthwise_convs_and_keeps_its_logits() -> None:
    """efficientnet_lite0: its four stride-2 depthwise convs are swapped; the logits stay."""
    effnet = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    fold_batch_norms(effnet)
    x = torch.rand(1, 3, 97, 131)
    with torch.no_grad():
        expected = effnet(x)
        assert rewrite(effnet) == 4
        got = effnet(x)
    assert sum(isinstance(m, SubsampledDepthwiseConv) for m in effnet.modules()) == 4
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_rewrite_leaves_what_would_not_pay_alone() -> None:
    """A 3x3 stem (efficientnet's) and blocks with unfolded batch norms stay as they are."""
    effnet = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    fold_batch_norms(effnet)
    rewrite(effnet)
    assert type(effnet.conv_stem) is nn.Conv2d
    unfolded = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    unfolded.conv1 = nn.Identity()  # type: ignore[assignment]
    assert rewrite(unfolded) == 0
