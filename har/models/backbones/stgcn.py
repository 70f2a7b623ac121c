"""ST-GCN backbone: Yan, Xiong & Lin, "Spatial Temporal Graph Convolutional Networks for Skeleton-Based Action
Recognition", AAAI 2018.

Each unit is a spatial graph convolution over the 3 subsets of the spatial partition strategy
(har.models.graph.spatial_partition), each adjacency multiplied element-wise by a learnable edge-importance mask
M_k (initialised to ones), followed by a temporal convolution (kernel Γ along time) and a residual connection.
The published network: data batch-norm, units of 64, 128 and 256 channels, temporal stride 2 at the first unit
of the 128- and 256-channel stages, global average pooling, persons averaged, a linear classifier.

Persons are folded into the batch (each person is one graph sequence). Zero-padded persons (every coordinate
exactly 0) are left out of the person average, so a one-person sample is not diluted by its padding.
"""
from __future__ import annotations

import torch
from torch import nn

from har.models.graph import spatial_partition


class GraphConv(nn.Module):
    """Spatial graph convolution Σ_k (A_k ⊙ M_k) applied to the 1×1-conv features W_k·x.

    (N, C_in, T, V) → (N, C_out, T, V); A: (K, V, V) fixed adjacency, M: (K, V, V) learnable importance.
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, edge_importance: bool):
        super().__init__()
        self.num_subsets = adjacency.shape[0]
        self.conv = nn.Conv2d(in_channels, out_channels * self.num_subsets, kernel_size=1)
        self.register_buffer("adjacency", adjacency.clone(), persistent=False)
        # M_k of the paper; a fixed all-ones mask when importance weighting is disabled.
        importance = torch.ones_like(adjacency)
        self.importance = nn.Parameter(importance) if edge_importance else None
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        y = self.conv(x).view(n, self.num_subsets, self.out_channels, t, v)
        graph = self.adjacency if self.importance is None else self.adjacency * self.importance
        # y[n,k,c,t,v] aggregated from every neighbour v into w through subset k.
        return torch.einsum("nkctv,kvw->nctw", y, graph)


class STGCNUnit(nn.Module):
    """Graph conv → BN → ReLU → temporal conv (Γ×1, stride s) → BN → dropout, plus residual, then ReLU.

    (N, C_in, T, V) → (N, C_out, ceil(T / s), V).
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, temporal_kernel: int,
                 stride: int, dropout: float, residual: bool, edge_importance: bool):
        super().__init__()
        if temporal_kernel % 2 != 1:
            raise ValueError(f"temporal_kernel must be odd to keep the sequence centred, got {temporal_kernel}")
        self.gcn = GraphConv(in_channels, out_channels, adjacency, edge_importance)
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), ((temporal_kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels), nn.Dropout(dropout),
        )
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y)


def present_persons(skeleton: torch.Tensor) -> torch.Tensor:
    """(B, M, T, V, C) → (B, M) bool: True where the person slot holds any non-zero coordinate (not padding)."""
    return skeleton.flatten(2).ne(0).any(dim=2)


def require_persons(present: torch.Tensor, what: str = "skeleton") -> torch.Tensor:
    """(B, M) person mask → (B,) persons per sample; ValueError naming the rows that hold no person."""
    counts = present.sum(dim=1)
    if bool((counts == 0).any()):
        empty = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"{what}: batch rows {empty} contain no person (every coordinate is 0)")
    return counts


def mean_over_persons(values: torch.Tensor, present: torch.Tensor, what: str = "skeleton") -> torch.Tensor:
    """Average (B, M, ...) over the present persons of each sample → (B, ...).

    Raises ValueError when a sample has no person at all: an all-zero skeleton is bad input, not a zero score.
    """
    counts = require_persons(present, what)
    weights = present.to(values.dtype) / counts.to(values.dtype).unsqueeze(1)
    return (values * weights.view(*weights.shape, *([1] * (values.dim() - 2)))).sum(dim=1)


class STGCN(nn.Module):
    """ST-GCN on (B, M, T, V, C) skeletons → logits (B, num_classes).

    widths[i] channels for depths[i] units per stage; the first unit of every stage after the first has
    temporal stride 2; the very first unit (C → widths[0]) has no residual, as in the published network.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, widths: tuple[int, ...] = (64, 128, 256),
                 depths: tuple[int, ...] = (4, 3, 3), temporal_kernel: int = 9, dropout: float = 0.0,
                 edge_importance: bool = True, adjacency: torch.Tensor | None = None):
        super().__init__()
        if len(widths) != len(depths) or min(depths) < 1:
            raise ValueError(f"widths {widths} and depths {depths} must pair up, with at least one unit each")
        adjacency = torch.from_numpy(spatial_partition()) if adjacency is None else adjacency
        self.num_joints = adjacency.shape[-1]
        self.in_channels = in_channels
        self.data_bn = nn.BatchNorm1d(in_channels * self.num_joints)
        units, channels = [], in_channels
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            for index in range(depth):
                stride = 2 if stage > 0 and index == 0 else 1
                units.append(STGCNUnit(channels, width, adjacency, temporal_kernel, stride, dropout,
                                       residual=bool(units), edge_importance=edge_importance))
                channels = width
        self.units = nn.ModuleList(units)
        self.out_channels = channels
        self.fc = nn.Linear(channels, num_classes)

    def features(self, skeleton: torch.Tensor) -> torch.Tensor:
        """(B, M, T, V, C) → last feature map (B, M, C_out, T', V), T' = T / 4 with the default 3 stages (all
        zeros for absent persons)."""
        b, m, t, v, c = skeleton.shape
        if v != self.num_joints or c != self.in_channels:
            raise ValueError(f"skeleton: expected (B, M, T, {self.num_joints}, {self.in_channels}), "
                             f"got {tuple(skeleton.shape)}")
        # Only present persons are computed (most NTU actions have one actor, the second slot is zero padding that
        # would cost as much and bias every batch-norm statistic); absent slots get all-zero feature maps, which
        # mean_over_persons leaves out. Data BN normalises each (joint, coordinate) over present persons and time.
        present = present_persons(skeleton)
        require_persons(present)
        used = torch.nonzero(present.reshape(-1)).flatten()
        x = skeleton.reshape(b * m, t, v * c).index_select(0, used).transpose(1, 2)
        x = self.data_bn(x).reshape(-1, v, c, t).permute(0, 2, 3, 1).contiguous()  # (persons, C, T, V)
        for unit in self.units:
            x = unit(x)
        maps = x.new_zeros(b * m, *x.shape[1:]).index_copy(0, used, x)
        return maps.view(b, m, *x.shape[1:])

    def classify(self, features: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """(B, M, C_out, T', V) feature map and (B, M) person mask → logits (B, num_classes)."""
        pooled = mean_over_persons(features.mean(dim=(3, 4)), present)
        return self.fc(pooled)

    def forward(self, skeleton: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(skeleton), present_persons(skeleton))
