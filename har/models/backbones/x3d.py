"""X3D video backbone (Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition", CVPR 2020).

Written from the paper's description:
- stem ("conv1 1x3², 3x1"): a 1x3x3 conv with spatial stride, then a 3x1x1 channel-wise (depthwise) temporal conv,
  BN, ReLU;
- stages of bottleneck blocks: 1x1x1 conv -> BN -> ReLU -> 3x3x3 channel-wise conv (spatial stride in a stage's
  first block) -> BN -> squeeze-excitation (every other block, reduction 1/16) -> swish -> 1x1x1 conv -> BN, plus the
  (projected when the shape changes) input, then ReLU. Inner width = expansion (γ_b = 2.25) x stage width; stage
  widths double from `base_width` (24 in X3D-S/M);
- conv5: 1x1x1 conv to expansion x last stage width (432 in X3D-M), BN, ReLU. The backbone ends here: its output
  is the feature map EPAM-Net's pose attention re-weights;
- head (X3DHead): global average pool -> optional FC (2048 in X3D) -> ReLU -> dropout -> FC to the classes.

No temporal striding anywhere (as in X3D), so feature frame t is input frame t.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from har.models.layers import SqueezeExcite


@dataclass(frozen=True)
class X3DConfig:
    """Architecture of one X3D backbone. Widths are scaled by `width_multiplier` (γ_w) and rounded.

    stage i width = base_width * 2**i; inner (bottleneck) width = expansion * stage width; conv5 width =
    expansion * last stage width. `spatial_strides` has one entry per stage (the stride of its first block).
    """
    in_channels: int = 3
    base_width: int = 24
    width_multiplier: float = 1.0
    expansion: float = 2.25
    depths: tuple[int, ...] = (3, 5, 11, 7)
    stem_spatial_stride: int = 2
    spatial_strides: tuple[int, ...] = (2, 2, 2, 2)
    temporal_kernel: int = 3
    se_reduction: int = 16          # 0 disables squeeze-excitation
    swish: bool = True              # swish after the depthwise conv (X3D); False = ReLU
    zero_init_last_bn: bool = True  # residual branches start as identity: eases training from scratch
    # NDHWC activations: ~5x faster depthwise-conv backward on CPU (measured); results equal up to rounding
    channels_last: bool = False

    @classmethod
    def x3d_m(cls, in_channels: int = 3) -> X3DConfig:
        """X3D-M: the RGB-X3D of EPAM-Net Table 1 (input 16x224x224 -> 16x7x7 features, 432 channels)."""
        return cls(in_channels=in_channels, **_X3D_M_LAYOUT)

    @classmethod
    def pose_x3d_s(cls, in_channels: int) -> X3DConfig:
        """EPAM-Net Table 2 Pose-X3D: X3D-S without its first stage, stem stride 1 (48x56x56 -> 48x7x7, 216 ch).

        Without SE: the paper's 543.76k parameters (Tables 4, 7; 17 joints, 60 classes) is what this layout has
        without SE (543.71k; 577.0k with it). ReLU instead of swish as in the authors' released no-SE variant
        (swish has no parameters, so the count cannot tell)."""
        layout = dict(_X3D_M_LAYOUT, depths=(5, 11, 7), stem_spatial_stride=1, spatial_strides=(2, 2, 2),
                      se_reduction=0, swish=False)
        return cls(in_channels=in_channels, **layout)

    def __post_init__(self) -> None:
        if len(self.depths) != len(self.spatial_strides) or not self.depths:
            raise ValueError(f"X3DConfig: depths {self.depths} and spatial_strides {self.spatial_strides} must be "
                             "non-empty and of equal length (one entry per stage)")
        if min(self.depths) < 1 or min(self.spatial_strides) < 1 or self.stem_spatial_stride < 1:
            raise ValueError(f"X3DConfig: depths and strides must be >= 1, got {self}")
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 == 0:
            raise ValueError(f"X3DConfig: temporal_kernel must be odd (keeps frames aligned), got "
                             f"{self.temporal_kernel}")
        if self.se_reduction < 0 or self.in_channels < 1 or self.base_width < 1:
            raise ValueError(f"X3DConfig: se_reduction must be >= 0, in_channels and base_width >= 1, got {self}")
        if self.width_multiplier <= 0 or self.expansion <= 0:
            raise ValueError(f"X3DConfig: width_multiplier and expansion must be > 0, got {self}")

    def stem_width(self) -> int:
        return _scaled(self.base_width * self.width_multiplier)

    def stage_widths(self) -> tuple[int, ...]:
        return tuple(_scaled(self.base_width * self.width_multiplier * 2 ** i) for i in range(len(self.depths)))

    def inner_widths(self) -> tuple[int, ...]:
        return tuple(_scaled(self.expansion * w) for w in self.stage_widths())

    def out_channels(self) -> int:
        """Channels of the backbone output (conv5)."""
        return _scaled(self.expansion * self.stage_widths()[-1])

    def output_size(self, size: int) -> int:
        """Spatial side of the output for an input side `size` (each stride-s 3x3 conv, padding 1: ceil(n/s))."""
        for stride in (self.stem_spatial_stride, *self.spatial_strides):
            size = (size - 1) // stride + 1
        return size


# every field but in_channels, spelled out so that subclasses with other defaults still get exactly X3D-M
_X3D_M_LAYOUT = dict(base_width=24, width_multiplier=1.0, expansion=2.25, depths=(3, 5, 11, 7),
                     stem_spatial_stride=2, spatial_strides=(2, 2, 2, 2), temporal_kernel=3, se_reduction=16,
                     swish=True, zero_init_last_bn=True, channels_last=False)


def _scaled(width: float) -> int:
    return max(1, int(round(width)))


def se_hidden_width(channels: int, reduction: int, divisor: int = 8) -> int:
    """SE bottleneck width: channels / reduction rounded to a multiple of `divisor` (at least `divisor`, never
    below 90 % of the exact value), the usual MobileNet/X3D width rounding. With it X3D-M has 3.10M parameters
    for 60 classes and 3.22M for 120, the figures in EPAM-Net Tables 4 and 6 (plain channels // 16: 3.07M, 3.20M).
    """
    exact = channels / reduction
    width = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    return width + divisor if width < 0.9 * exact else width


class X3DStem(nn.Module):
    """1x3x3 spatial conv (stride s) then 3x1x1 depthwise temporal conv, BN, ReLU. (B,C,T,H,W) -> (B,W,T,H/s,W/s)."""

    def __init__(self, in_channels: int, width: int, spatial_stride: int, temporal_kernel: int):
        super().__init__()
        self.spatial = nn.Conv3d(in_channels, width, (1, 3, 3), stride=(1, spatial_stride, spatial_stride),
                                 padding=(0, 1, 1), bias=False)
        self.temporal = nn.Conv3d(width, width, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0),
                                  groups=width, bias=False)
        self.bn = nn.BatchNorm3d(width)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.temporal(self.spatial(x))))


class X3DBottleneck(nn.Module):
    """X3D residual block: 1x1x1 -> 3x3x3 depthwise (stride) -> [SE] -> swish -> 1x1x1, plus shortcut.

    (B, in_channels, T, H, W) -> (B, out_channels, T, ceil(H/s), ceil(W/s)).
    """

    def __init__(self, in_channels: int, inner: int, out_channels: int, spatial_stride: int,
                 temporal_kernel: int, se_reduction: int, swish: bool):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv3d(in_channels, inner, 1, bias=False), nn.BatchNorm3d(inner),
                                    nn.ReLU(inplace=True))
        self.depthwise = nn.Conv3d(inner, inner, (temporal_kernel, 3, 3), stride=(1, spatial_stride, spatial_stride),
                                   padding=(temporal_kernel // 2, 1, 1), groups=inner, bias=False)
        self.depthwise_bn = nn.BatchNorm3d(inner)
        # SqueezeExcite(c, reduction=c, min_hidden=h) has exactly h hidden units
        self.se = SqueezeExcite(inner, reduction=inner, min_hidden=se_hidden_width(inner, se_reduction)) \
            if se_reduction > 0 else nn.Identity()
        self.activation = nn.SiLU() if swish else nn.ReLU()
        self.project = nn.Conv3d(inner, out_channels, 1, bias=False)
        self.project_bn = nn.BatchNorm3d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels or spatial_stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=(1, spatial_stride, spatial_stride), bias=False),
                nn.BatchNorm3d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.activation(self.se(self.depthwise_bn(self.depthwise(self.expand(x)))))
        return self.relu(self.project_bn(self.project(y)) + self.shortcut(x))


class X3D(nn.Module):
    """X3D backbone up to conv5. (B, in_channels, T, H, W) -> (B, config.out_channels(), T, h, w) with
    h = config.output_size(H), w = config.output_size(W)."""

    def __init__(self, config: X3DConfig):
        super().__init__()
        self.config = config
        self.stem = X3DStem(config.in_channels, config.stem_width(), config.stem_spatial_stride,
                            config.temporal_kernel)
        stages, width = [], config.stem_width()
        for depth, stride, out, inner in zip(config.depths, config.spatial_strides, config.stage_widths(),
                                             config.inner_widths()):
            blocks = []
            for index in range(depth):
                # SE after every other depthwise conv, starting with the first block of each stage (X3D §3)
                se = config.se_reduction if index % 2 == 0 else 0
                blocks.append(X3DBottleneck(width, inner, out, stride if index == 0 else 1,
                                            config.temporal_kernel, se, config.swish))
                width = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.conv5 = nn.Sequential(nn.Conv3d(width, config.out_channels(), 1, bias=False),
                                   nn.BatchNorm3d(config.out_channels()), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"X3D: expected input (B, {self.config.in_channels}, T, H, W), got {tuple(x.shape)}")
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return self.conv5(self.stages(self.stem(x)))


class X3DHead(nn.Module):
    """Global average pool -> [FC(hidden) -> ReLU] -> dropout -> FC. (B, C, T, h, w) -> (B, num_classes).

    hidden = 2048 is X3D's fc1 (EPAM-Net Table 1); hidden = 0 gives the plain GAP -> FC head of Table 2.
    """

    def __init__(self, in_channels: int, num_classes: int, hidden: int, dropout: float):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(inplace=True)) if hidden > 0 \
            else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden if hidden > 0 else in_channels, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = features.flatten(2).mean(dim=2)
        return self.fc(self.dropout(self.hidden(pooled)))


def init_x3d_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Deterministic initialisation from `generator`: convs He-normal (fan-out), linears PyTorch-default, BN (1, 0);
    with zero_init_last_bn the last BN of each residual branch starts at 0 (block = identity + shortcut)."""
    for sub in module.modules():
        if isinstance(sub, nn.Conv3d):
            nn.init.kaiming_normal_(sub.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
        elif isinstance(sub, nn.Linear):  # PyTorch's default scheme, drawn from `generator`
            nn.init.kaiming_uniform_(sub.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(sub.in_features)
            nn.init.uniform_(sub.bias, -bound, bound, generator=generator)
        elif isinstance(sub, nn.BatchNorm3d):
            nn.init.ones_(sub.weight)
            nn.init.zeros_(sub.bias)
    for sub in module.modules():
        if isinstance(sub, X3D) and sub.config.zero_init_last_bn:
            for block in sub.modules():
                if isinstance(block, X3DBottleneck):
                    nn.init.zeros_(block.project_bn.weight)
