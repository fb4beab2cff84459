"""Faster equivalents of a folded network's modules: the same function, computed in fewer or
better-shaped operations. `rewrite` swaps them into a network in place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.googlenet import Inception

__all__ = ["FusedInception", "SpaceToDepthConv", "SubsampledDepthwiseConv", "rewrite"]


class SpaceToDepthConv(nn.Module):
    """A stride-2 convolution of a picture, computed as a stride-1 one over 2x2 pixel blocks.

    The gradient of a 3-channel input is a convolution with 3 output channels, which oneDNN runs
    at a fraction of its speed; over blocks it has 12, and the stem's backward pass costs a third.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        out_channels, in_channels, kernel_h, kernel_w = conv.weight.shape
        self.kernel = (kernel_h, kernel_w)
        if isinstance(conv.padding, str):
            raise ValueError("only explicit zero padding can be split into blocks")
        self.padding = conv.padding
        # pad the kernel to even sides; tap (2i + di, 2j + dj) goes to channel (c, di, dj) of
        # block tap (i, j), the order in which pixel_unshuffle lays out a block's pixels
        weight = F.pad(conv.weight.detach(), (0, kernel_w % 2, 0, kernel_h % 2))
        even_h, even_w = weight.shape[-2:]
        weight = weight.view(out_channels, in_channels, even_h // 2, 2, even_w // 2, 2)
        weight = weight.permute(0, 1, 3, 5, 2, 4).reshape(
            out_channels, in_channels * 4, even_h // 2, even_w // 2
        )
        self.weight = nn.Parameter(weight.contiguous(), requires_grad=False)
        bias = conv.bias
        self.bias = None if bias is None else nn.Parameter(bias.detach(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        (kernel_h, kernel_w), (pad_h, pad_w) = self.kernel, self.padding
        height, width = x.shape[-2:]
        out_h = (height + 2 * pad_h - kernel_h) // 2 + 1
        out_w = (width + 2 * pad_w - kernel_w) // 2 + 1
        blocks_h, blocks_w = self.weight.shape[-2:]
        # pad (or crop: negative padding) to exactly the blocks the output reads
        x = F.pad(
            x,
            (
                pad_w,
                2 * (out_w + blocks_w - 1) - width - pad_w,
                pad_h,
                2 * (out_h + blocks_h - 1) - height - pad_h,
            ),
        )
        x = F.pixel_unshuffle(x, 2).contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, self.weight, self.bias)


class SubsampledDepthwiseConv(nn.Module):
    """A stride-2 depthwise convolution computed at stride 1 and subsampled.

    oneDNN computes the input gradient of a strided depthwise convolution with a generic kernel
    (16 ms for efficientnet_lite0's first one at 512 px, against 0.3 ms for a stride-1 one of the
    same size); at stride 1 its fast depthwise kernel does it, for four times the forward's cheap
    arithmetic.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias
        self.padding = conv.padding
        self.groups = conv.groups

    def forward(self, x: Tensor) -> Tensor:
        full = F.conv2d(x, self.weight, self.bias, padding=self.padding, groups=self.groups)
        return full[..., ::2, ::2].contiguous(memory_format=torch.channels_last)


class FusedInception(nn.Module):
    """torchvision's GoogLeNet Inception block with its three 1x1 convolutions of the block's
    input run as one: one larger matrix product instead of three thin ones."""

    def __init__(self, block: Inception) -> None:
        super().__init__()
        convs = [block.branch1.conv, block.branch2[0].conv, block.branch3[0].conv]
        self.splits = [conv.out_channels for conv in convs]
        self.reduce = nn.Conv2d(convs[0].in_channels, sum(self.splits), 1)
        self.reduce.weight = nn.Parameter(
            torch.cat([conv.weight.detach() for conv in convs]), requires_grad=False
        )
        self.reduce.bias = nn.Parameter(
            torch.cat([_bias(conv) for conv in convs]), requires_grad=False
        )
        self.branch2 = block.branch2[1]
        self.branch3 = block.branch3[1]
        self.branch4 = block.branch4

    def forward(self, x: Tensor) -> Tensor:
        one, two, three = torch.split(F.relu(self.reduce(x)), self.splits, dim=1)
        return torch.cat([one, self.branch2(two), self.branch3(three), self.branch4(x)], dim=1)


def _bias(conv: nn.Conv2d) -> Tensor:
    if conv.bias is None:
        return torch.zeros(conv.out_channels, device=conv.weight.device)
    return conv.bias.detach()


def _plain_stride_2(conv: nn.Conv2d) -> bool:
    # a plain Conv2d (no subclass with a forward of its own), stride 2, zero padding in pixels
    return (
        type(conv) is nn.Conv2d
        and conv.stride == (2, 2)
        and conv.dilation == (1, 1)
        and conv.padding_mode == "zeros"
        and isinstance(conv.padding, tuple)
    )


def _blockable(conv: nn.Conv2d) -> bool:
    # A picture's wide stem. A 3x3 kernel padded to 4x4 wastes too much: measured on a CPU,
    # blocks pay from 5x5 up (GoogLeNet's 7x7: -38 %).
    return (
        _plain_stride_2(conv)
        and conv.groups == 1
        and conv.in_channels <= 4
        and min(conv.kernel_size) >= 5
    )


def _subsamplable(conv: nn.Conv2d) -> bool:
    return _plain_stride_2(conv) and 1 < conv.groups == conv.in_channels == conv.out_channels


def _fusable(module: Inception) -> bool:
    # only once batch norms are folded: each 1x1 branch is then a conv, an Identity and a ReLU
    heads = [module.branch1, module.branch2[0], module.branch3[0]]
    return all(isinstance(head.bn, nn.Identity) for head in heads)


def rewrite(net: nn.Module) -> int:
    """Swap every module that has a faster equivalent for it, in place; returns how many."""
    swapped = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv2d) and _blockable(child):
                setattr(parent, name, SpaceToDepthConv(child))
            elif isinstance(child, nn.Conv2d) and _subsamplable(child):
                setattr(parent, name, SubsampledDepthwiseConv(child))
            elif isinstance(child, Inception) and _fusable(child):
                setattr(parent, name, FusedInception(child))
            else:
                continue
            swapped += 1
    return swapped
