"""3D ResNet-18 video backbone (Hara, Kataoka, Satoh, CVPR 2018: "Can Spatiotemporal 3D CNNs Retrace the History
of 2D CNNs and ImageNet?"), written from the published description.

Stem: one 3D convolution (7×7×7, stride (1, 2, 2) in the paper) + BN + ReLU + 3×3×3 max-pool with stride 2.
Then four stages of BasicBlocks (two 3×3×3 convolutions, each followed by BN, ReLU after the first and after the
residual sum); stages 2–4 halve T, H and W in their first block, whose shortcut is a 1×1×1 convolution + BN
(shortcut type B). Global average pooling gives one feature vector per clip. Paper widths 64-128-256-512 with
two blocks per stage: ≈33.2 M parameters without a classifier (the figure Hara et al. and AMFI-Net quote).
"""
from __future__ import annotations

import torch
from torch import nn

from har.models.layers import init_conv_weights

RESNET3D18_CHANNELS: tuple[int, ...] = (64, 128, 256, 512)
RESNET3D18_BLOCKS: tuple[int, ...] = (2, 2, 2, 2)


def scaled_channels(base: tuple[int, ...], width: float, minimum: int = 4) -> tuple[int, ...]:
    """Channel counts multiplied by `width` (rounded, at least `minimum`): the CPU-scale knob of every backbone."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return tuple(max(minimum, int(round(c * width))) for c in base)


class BasicBlock3d(nn.Module):
    """Two 3×3×3 conv-BN layers with a residual connection: (B, C_in, T, H, W) -> (B, C_out, T/s, H/s, W/s)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(out_channels)
        self.conv2 = nn.Conv3d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm3d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet3d(nn.Module):
    """3D ResNet feature extractor: clip (B, C_in, T, H, W) float32 -> (B, out_channels) pooled features.

    Any T, H, W at least as large as the total stride works (global average pooling at the end).
    """

    def __init__(self, in_channels: int = 3, channels: tuple[int, ...] = RESNET3D18_CHANNELS,
                 blocks: tuple[int, ...] = RESNET3D18_BLOCKS, stem_kernel: tuple[int, int, int] = (7, 7, 7),
                 stem_stride: tuple[int, int, int] = (1, 2, 2), stem_pool: bool = True):
        super().__init__()
        if len(channels) != len(blocks) or not channels:
            raise ValueError(f"channels {channels} and blocks {blocks} must be non-empty and of equal length")
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, channels[0], stem_kernel, stride=stem_stride,
                      padding=tuple(k // 2 for k in stem_kernel), bias=False),
            nn.BatchNorm3d(channels[0]), nn.ReLU(inplace=True),
            nn.MaxPool3d(3, stride=2, padding=1) if stem_pool else nn.Identity())
        stages, previous = [], channels[0]
        for index, (width, depth) in enumerate(zip(channels, blocks)):
            first_stride = 1 if index == 0 else 2
            stage = [BasicBlock3d(previous if b == 0 else width, width, first_stride if b == 0 else 1)
                     for b in range(depth)]
            stages.append(nn.Sequential(*stage))
            previous = width
        self.stages = nn.Sequential(*stages)
        self.out_channels = channels[-1]
        init_conv_weights(self, mode="fan_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"ResNet3d expects a clip (B, C, T, H, W), got shape {tuple(x.shape)}")
        return self.stages(self.stem(x)).mean(dim=(2, 3, 4))
