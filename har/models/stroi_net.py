"""Skeleton-driven attention for the RGB modality via a spatial-temporal ROI (the precursor of MMNet): ST-GCN
joint weights × ST-ROI mosaic → ResNet-18, score ensemble. Paper text (untitled extract, Fig. 2 "Deep learning
architecture of skeleton-driven attention for RGB video modality"): ../shared/papers/skeleton-driven-stroi-attention.txt

Pipeline (paper Fig. 2 and Algorithm 1):
1. ST-GCN (har.models.backbones.stgcn) on the skeleton (B, M, T, V=25, C=3) → skeleton logits and its last
   feature map Y (B, M, C', T', V).
2. Joint weights, Eq. (4): J_v = 1/(t·c) Σ_t Σ_c Y²[c, t, v], computed PER SAMPLE. Persons: the paper's Eq. (4)
   is written for one skeleton; we average the squared features over the sample's present persons as well
   (zero-padded persons excluded), which reduces to Eq. (4) for one person. Eq. (4) leaves J's scale to the
   feature magnitudes, so J is divided by its own per-sample maximum over the 25 joints (default "max";
   "minmax" per sample and the raw "none" are options). Nothing is normalised over the batch (the public code
   min-max scales over the batch, so one sample's weights depend on its batch-mates).
3. Eq. (5): each part band (row) of the ST-ROI mosaic (B, 3, 5s, 5s) — rows head, left hand, right hand, left
   foot, right foot (har.layout.STROI_PARTS) — is multiplied by the weight of its joint.
4. ResNet-18 (har.models.backbones.resnet2d) on the weighted mosaic resized to `input_size` (225 in the paper).
5. Ensemble of the two streams' scores (step 6 of Algorithm 1): weighted average of softmax scores (default) or
   of logits.

Training phases (paper Algorithm 1 and Table I): GCN alone first; then the ResNet with the GCN frozen
(har.models.layers.set_frozen: eval mode, no gradients — the joint weights are then computed without autograd,
i.e. detached, and batch-norm statistics stay fixed; har.models.layers.train_mode keeps it in eval mode); or
Table I #3, GCN and ResNet updated together, where the joint weights stay differentiable w.r.t. the GCN.
The paper's best ensemble (Table I #7 = #1 + #4) uses the frozen GCN.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from har.layout import STROI_PARTS
from har.models.backbones.resnet2d import ResNet2d
from har.models.backbones.stgcn import STGCN, mean_over_persons, present_persons
from har.models.layers import is_frozen

_EPS = 1e-12


@dataclass(frozen=True)
class STROINetConfig:
    """Every architectural hyperparameter; defaults = the scaled-down CPU variant."""

    gcn_widths: tuple[int, ...] = (16, 32, 64)
    gcn_depths: tuple[int, ...] = (1, 1, 1)
    gcn_temporal_kernel: int = 9
    gcn_dropout: float = 0.0
    gcn_edge_importance: bool = True
    resnet_width: int = 16
    resnet_depths: tuple[int, ...] = (1, 1, 1, 1)
    resnet_dropout: float = 0.0
    input_size: int = 112            # side of the square ResNet input the mosaic is resized to
    use_joint_weights: bool = True   # False = Table I #2, the ResNet on the unweighted ST-ROI
    joint_weight_norm: Literal["max", "minmax", "none"] = "max"
    ensemble: Literal["softmax", "logits"] = "softmax"
    ensemble_rgb_weight: float = 1.0  # RGB score weight relative to the skeleton's (1.0 = plain average)
    loss: Literal["cross_entropy", "squared_error"] = "cross_entropy"
    rgb_loss_weight: float = 1.0

    def __post_init__(self):
        if self.input_size < 16:
            raise ValueError(f"STROINetConfig.input_size must be >= 16, got {self.input_size}")
        if self.ensemble_rgb_weight < 0 or self.rgb_loss_weight < 0:
            raise ValueError("STROINetConfig: ensemble_rgb_weight and rgb_loss_weight must be >= 0")

    @classmethod
    def paper(cls) -> STROINetConfig:
        """Paper scale: full ST-GCN (64/128/256 channels, 10 units as released, Γ=9, dropout 0.5 — ST-GCN's NTU
        setting) and full ResNet-18 on 225×225 inputs (Sec. IV-B); Eq. (6)'s squared-error loss (Sec. III-F)."""
        return cls(gcn_widths=(64, 128, 256), gcn_depths=(4, 3, 3), gcn_temporal_kernel=9, gcn_dropout=0.5,
                   resnet_width=64, resnet_depths=(2, 2, 2, 2), input_size=225, loss="squared_error")


def joint_weights(features: torch.Tensor, present: torch.Tensor,
                  norm: Literal["max", "minmax", "none"] = "max") -> torch.Tensor:
    """Eq. (4) per sample: (B, M, C, T, V) feature map, (B, M) person mask → (B, V) joint weights.

    Mean of the squared features over channels and time, then over the sample's present persons, then the
    per-sample normalisation `norm` ("max": J / max_v J ∈ [0, 1]; "minmax": (J − min) / (max − min); "none").
    """
    energy = mean_over_persons(features.square().mean(dim=(2, 3)), present, what="joint weights")  # (B, V)
    if norm == "none":
        return energy
    high = energy.amax(dim=1, keepdim=True)
    if norm == "max":
        return energy / high.clamp_min(_EPS)
    if norm == "minmax":
        low = energy.amin(dim=1, keepdim=True)
        return (energy - low) / (high - low).clamp_min(_EPS)
    raise ValueError(f"unknown joint_weight_norm {norm!r} (expected 'max', 'minmax' or 'none')")


def weight_mosaic(mosaic: torch.Tensor, weights: torch.Tensor, part_joints: torch.Tensor) -> torch.Tensor:
    """Eq. (5): (B, 3, K·s, W) mosaic × per-row-band joint weight → same shape.

    weights: (B, V) joint weights; part_joints: (K,) long, the joint of each band (top to bottom).
    """
    rows = part_joints.numel()
    band_height = mosaic.shape[2] // rows
    band_weights = weights.index_select(1, part_joints)                   # (B, K)
    row_weights = band_weights.repeat_interleave(band_height, dim=1)      # (B, K·s)
    return mosaic * row_weights[:, None, :, None]


def ensemble_scores(skeleton_logits: torch.Tensor, rgb_logits: torch.Tensor, config: STROINetConfig) -> torch.Tensor:
    """Fused (B, num_classes) prediction: log of the weighted mean of softmax scores, or weighted mean of logits."""
    w = config.ensemble_rgb_weight
    if config.ensemble == "logits":
        return (skeleton_logits + w * rgb_logits) / (1.0 + w)
    log_rgb_share = math.log(w / (1.0 + w)) if w > 0 else -math.inf
    return torch.logaddexp(F.log_softmax(skeleton_logits, dim=1) - math.log(1.0 + w),
                           F.log_softmax(rgb_logits, dim=1) + log_rgb_share)


class STROINet(nn.Module):
    """model.skeleton: the ST-GCN; model.rgb: the ResNet-18. forward(skeleton, stroi) → dict of tensors."""

    def __init__(self, config: STROINetConfig, num_classes: int):
        super().__init__()
        self.config = config
        self.skeleton = STGCN(num_classes, widths=config.gcn_widths, depths=config.gcn_depths,
                              temporal_kernel=config.gcn_temporal_kernel, dropout=config.gcn_dropout,
                              edge_importance=config.gcn_edge_importance)
        self.rgb = ResNet2d(num_classes, width=config.resnet_width, depths=config.resnet_depths,
                            dropout=config.resnet_dropout)
        self.register_buffer("part_joints", torch.tensor([joint for _, joint in STROI_PARTS]), persistent=False)

    def skeleton_stream(self, skeleton: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, M, T, V, C) → (skeleton logits (B, classes), joint weights (B, V)).

        A frozen GCN runs without autograd, so its joint weights are detached from it; otherwise they stay
        differentiable (Table I #3, the GCN tuned together with the ResNet).
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not is_frozen(self.skeleton)):
            features = self.skeleton.features(skeleton)
            present = present_persons(skeleton)
            logits = self.skeleton.classify(features, present)
            weights = joint_weights(features, present, self.config.joint_weight_norm)
        return logits, weights

    def rgb_stream(self, stroi: torch.Tensor, weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, K·s, W) mosaic, (B, V) joint weights or None → (RGB logits, weighted mosaic at input_size)."""
        rows = self.part_joints.numel()
        if stroi.dim() != 4 or stroi.shape[1] != 3 or stroi.shape[2] % rows:
            raise ValueError(f"stroi: expected (B, 3, {rows}·s, W) mosaic with {rows} part bands, "
                             f"got {tuple(stroi.shape)}")
        if weights is not None:
            stroi = weight_mosaic(stroi, weights, self.part_joints)
        size = self.config.input_size
        if stroi.shape[2:] != (size, size):
            stroi = F.interpolate(stroi, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return self.rgb(stroi), stroi

    def forward_stream(self, name: str, skeleton: torch.Tensor | None = None,
                       stroi: torch.Tensor | None = None) -> torch.Tensor:
        """One stream's logits: "skeleton" needs only the skeleton; "rgb" needs the mosaic, and the skeleton too
        unless use_joint_weights is False (the weights come from the GCN)."""
        if name == "skeleton":
            if skeleton is None:
                raise ValueError("the skeleton stream needs the skeleton")
            return self.skeleton(skeleton)
        if name == "rgb":
            if stroi is None or (skeleton is None and self.config.use_joint_weights):
                raise ValueError("the rgb stream needs the stroi mosaic, and the skeleton for its joint weights")
            weights = self.skeleton_stream(skeleton)[1] if self.config.use_joint_weights else None
            return self.rgb_stream(stroi, weights)[0]
        raise ValueError(f"unknown stream {name!r} (expected 'skeleton' or 'rgb')")

    def forward(self, skeleton: torch.Tensor, stroi: torch.Tensor) -> dict[str, torch.Tensor]:
        """skeleton (B, M, T, 25, 3), stroi (B, 3, 5s, 5s) → {"logits", "skeleton", "rgb": (B, classes),
        "joint_weights": (B, 25)}."""
        if skeleton.shape[0] != stroi.shape[0]:
            raise ValueError(f"skeleton batch {skeleton.shape[0]} != stroi batch {stroi.shape[0]}")
        skeleton_logits, weights = self.skeleton_stream(skeleton)
        rgb_logits, _ = self.rgb_stream(stroi, weights if self.config.use_joint_weights else None)
        return {"logits": ensemble_scores(skeleton_logits, rgb_logits, self.config),
                "skeleton": skeleton_logits, "rgb": rgb_logits, "joint_weights": weights}


def build_stroi_net(config: STROINetConfig, num_classes: int) -> STROINet:
    return STROINet(config, num_classes)


def stream_term(logits: torch.Tensor, target: torch.Tensor, config: STROINetConfig) -> torch.Tensor:
    """One stream's term of Eq. (6) for (B, classes) logits and (B,) labels: "cross_entropy", or "squared_error"
    — Eq. (6) read literally, (1/N) Σ_i ||softmax(ŷ_i) − onehot(y_i)||²."""
    if config.loss == "cross_entropy":
        return F.cross_entropy(logits, target)
    onehot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    return (logits.softmax(dim=1) - onehot).square().sum(dim=1).mean()


def loss(outputs: dict[str, torch.Tensor], target: torch.Tensor,
         config: STROINetConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (6): skeleton-stream term + RGB-stream term (stream_term), both supervised by the label.

    "cross_entropy" (default, how ST-GCN and ResNet are trained) or "squared_error" (the paper profile). The GCN's
    own training phase (Algorithm 1 step 1) uses the same skeleton term. A frozen GCN's term carries no gradient.
    """
    skeleton_term, rgb_term = stream_term(outputs["skeleton"], target, config), stream_term(outputs["rgb"], target,
                                                                                             config)
    total = skeleton_term + config.rgb_loss_weight * rgb_term
    return total, {"skeleton": skeleton_term.detach(), "rgb": rgb_term.detach()}
