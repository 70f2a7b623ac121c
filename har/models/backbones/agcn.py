"""Adaptive graph convolutional network (Shi, Zhang, Cheng, Lu, CVPR 2019: "Two-Stream Adaptive Graph
Convolutional Networks for Skeleton-Based Action Recognition", 2s-AGCN), written from the published description.

Adaptive graph convolution (their Eq. 3): f_out = Σ_k W_k f_in (A_k + B_k + C_k) over the K = 3 subsets of the
ST-GCN spatial partition, with A_k the fixed normalised physical adjacency (har.models.graph.spatial_partition),
B_k a free V×V matrix learned from zero, and C_k a per-sample graph softmax(θ_k(f)ᵀ φ_k(f)) from two embedding
1×1 convolutions. Each block: adaptive graph conv + BN + residual + ReLU, then a 9×1 temporal conv + BN, a block
residual, ReLU (and dropout, which AMFI-Net's block diagram adds). Persons are folded into the batch
(B·M, C, T, V) and their pooled features averaged back over the persons present. The bone stream of 2s-AGCN feeds
the same network with bone vectors (joint − parent joint).

Published size to compare against: one 2s-AGCN stream (10 blocks, 64×4, 128×3, 256×3) has ≈3.47 M parameters
(6.94 M for both streams, as tabulated by Liu et al., CVPR 2020, MS-G3D, Table 5).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from har.layout import NTU_PARENT
from har.models.graph import spatial_partition

# AMFI-Net, Sec. 3.2: three blocks of 64, three of 128, three of 256 channels, plus one 512-channel block added
# so that the skeleton feature has the ResNet3D-18 feature size. Strides follow 2s-AGCN (halve T at 128 and 256).
AMFI_AGCN_CHANNELS: tuple[int, ...] = (64, 64, 64, 128, 128, 128, 256, 256, 256, 512)
AMFI_AGCN_STRIDES: tuple[int, ...] = (1, 1, 1, 2, 1, 1, 2, 1, 1, 1)


def bone_vectors(joints: torch.Tensor, parents: tuple[int, ...] = NTU_PARENT) -> torch.Tensor:
    """2s-AGCN bone stream input: (..., V, C) joints -> (..., V, C) with bone(v) = joint(v) − joint(parent(v)).

    The root (its own parent) gets a zero bone. Zero-padded persons/frames stay zero.
    """
    if joints.shape[-2] != len(parents):
        raise ValueError(f"bone_vectors: {joints.shape[-2]} joints but {len(parents)} parents")
    index = torch.as_tensor(parents, dtype=torch.long, device=joints.device)
    return joints - joints.index_select(-2, index)


def person_weights(skeleton: torch.Tensor) -> torch.Tensor:
    """(B, M, T, V, C) -> (B, M) float weights averaging over present persons (any non-zero coordinate).

    A sample with no present person at all (an all-zero input) falls back to the first person slot, so the result
    is defined without a host-device synchronisation.
    """
    present = skeleton.detach().flatten(2).abs().amax(dim=2) > 0
    fallback = torch.zeros_like(present)
    fallback[:, 0] = True
    present = torch.where(present.any(dim=1, keepdim=True), present, fallback)
    weights = present.to(skeleton.dtype)
    return weights / weights.sum(dim=1, keepdim=True)


class AdaptiveGraphConv(nn.Module):
    """Σ_k W_k X (A_k + B_k + C_k): (N, C_in, T, V) -> (N, C_out, T, V), with BN, residual and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, embed_channels: int):
        super().__init__()
        subsets, joints, _ = adjacency.shape
        self.register_buffer("adjacency", adjacency.clone())  # A_k, fixed
        self.learned = nn.Parameter(torch.zeros(subsets, joints, joints))  # B_k, learned from zero
        self.embed_channels = embed_channels
        # θ_k and φ_k of all K subsets as one 1×1 convolution (one kernel call instead of 2K).
        self.embed = nn.Conv2d(in_channels, 2 * subsets * embed_channels, 1)
        # One 1×1 conv over the K stacked aggregations = Σ_k W_k(·) (plus one shared bias).
        self.project = nn.Conv2d(subsets * in_channels, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.down: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def data_graph(self, x: torch.Tensor) -> torch.Tensor:
        """C_k: (N, C, T, V) -> (N, K, V, V), column w a softmax over source joints v of θ(x_v)·φ(x_w)."""
        n, _, t, v = x.shape
        k = self.adjacency.shape[0]
        theta, phi = self.embed(x).reshape(n, 2, k, self.embed_channels * t, v).unbind(dim=1)
        # Scale by the embedding length so the softmax does not saturate as T or the width grow.
        similarity = torch.einsum("nkcv,nkcw->nkvw", theta, phi) / (self.embed_channels * t)
        return similarity.softmax(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v = x.shape
        graph = self.adjacency + self.learned + self.data_graph(x)  # (N, K, V, V)
        aggregated = torch.einsum("nctv,nkvw->nkctw", x, graph).reshape(n, -1, t, v)
        return self.relu(self.bn(self.project(aggregated)) + self.down(x))


class AGCNBlock(nn.Module):
    """Adaptive graph conv -> temporal conv (kernel × 1, stride) + BN, block residual, ReLU, dropout."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, stride: int = 1,
                 temporal_kernel: int = 9, embed_reduction: int = 4, residual: bool = True, dropout: float = 0.0):
        super().__init__()
        self.gcn = AdaptiveGraphConv(in_channels, out_channels, adjacency,
                                     max(1, out_channels // embed_reduction))
        self.tcn = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), stride=(stride, 1),
                      padding=(temporal_kernel // 2, 0)),
            nn.BatchNorm2d(out_channels))
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=(stride, 1)),
                                          nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.tcn(self.gcn(x))
        if self.residual is not None:
            out = out + self.residual(x)
        return self.dropout(self.relu(out))


class AGCN(nn.Module):
    """One AGCN stream: skeleton (B, M, T, V, C) float32 -> (B, out_channels) features averaged over persons.

    Input normalisation is a BatchNorm over the M·V·C coordinate channels (as 2s-AGCN); the first block has no
    residual (as 2s-AGCN).
    """

    def __init__(self, in_channels: int = 3, channels: tuple[int, ...] = AMFI_AGCN_CHANNELS,
                 strides: tuple[int, ...] = AMFI_AGCN_STRIDES, num_joints: int = 25, num_persons: int = 2,
                 adjacency: np.ndarray | None = None, temporal_kernel: int = 9, embed_reduction: int = 4,
                 dropout: float = 0.0):
        super().__init__()
        if len(channels) != len(strides) or not channels:
            raise ValueError(f"channels {channels} and strides {strides} must be non-empty and of equal length")
        graph = torch.as_tensor(spatial_partition() if adjacency is None else adjacency, dtype=torch.float32)
        if graph.dim() != 3 or graph.shape[1:] != (num_joints, num_joints):
            raise ValueError(f"adjacency must be (K, {num_joints}, {num_joints}), got {tuple(graph.shape)}")
        self.in_channels, self.num_joints, self.num_persons = in_channels, num_joints, num_persons
        self.data_bn = nn.BatchNorm1d(num_persons * num_joints * in_channels)
        blocks, previous = [], in_channels
        for index, (width, stride) in enumerate(zip(channels, strides)):
            blocks.append(AGCNBlock(previous, width, graph, stride, temporal_kernel, embed_reduction,
                                    residual=index > 0, dropout=dropout))
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = channels[-1]

    def forward(self, skeleton: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """skeleton (B, M, T, V, C); weights (B, M) person weights summing to 1 (default: person_weights)."""
        expected = (self.num_persons, self.num_joints, self.in_channels)
        if skeleton.dim() != 5 or (skeleton.shape[1], skeleton.shape[3], skeleton.shape[4]) != expected:
            raise ValueError(f"AGCN expects (B, M={expected[0]}, T, V={expected[1]}, C={expected[2]}), "
                             f"got shape {tuple(skeleton.shape)}")
        b, m, t, v, c = skeleton.shape
        weights = person_weights(skeleton) if weights is None else weights
        x = self.data_bn(skeleton.permute(0, 1, 3, 4, 2).reshape(b, m * v * c, t))
        x = x.view(b, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(b * m, c, t, v)
        # Only the person slots that count (weight > 0) go through the blocks: zero-padded slots would cost as
        # much as real people (most NTU actions have one actor) and would bias the blocks' batch-norm statistics.
        used = torch.nonzero(weights.reshape(-1) > 0).flatten()
        pooled = self.blocks(x.index_select(0, used)).mean(dim=(2, 3))
        features = pooled.new_zeros(b * m, pooled.shape[1]).index_copy(0, used, pooled).view(b, m, -1)
        return (features * weights.unsqueeze(-1)).sum(dim=1)
