"""AMFI-Net (Zhao, Tang, Hu, Wang, Qiao, Tong, J. Visual Communication and Image Representation 2025: "Attention
mechanism based multimodal feature fusion network for human action recognition"), written from the paper.

Streams: ResNet3D-18 on an RGB clip (B, 3, T=16, H, W) min-max normalised, and AGCN (with the paper's extra
512-channel block) on a skeleton (B, M=2, T, V=25, C=3): the paper's single joint stream (`skeleton_streams:
[joint]`, Sec. 3.2 describes one AGCN and its 43.26 M total fits one stream) or 2s-AGCN's joint + bone streams (the
CPU default). Each stream has its own classifier for stream pretraining (paper Sec. 4.2 / Algorithm 1); then both
are frozen and only the fusion module trains.

AMFI module (Sec. 3.3), on the stream features X_skel, X_rgb (B, C):
  X = concat(X_skel, X_rgb) (B, 2C)                                          Eq. 7
  Z = W_z y + X, y_i = Σ_j softmax_j(θ(x_i)ᵀ β(x_j)) g(x_j)                  Eq. 8–11 (embedded Gaussian)
  Y = SE(Z), split back into Y_skel, Y_rgb (B, C)                          Sec. 3.3.2
  Y' = σ(FC(Y_skel)), Y_fusion = Y_skel ⊙ Y' + Y_rgb ⊙ (1 − Y')            Eq. 18–19
  logits = FC(Y_fusion); L_total = CE + λ · L_gate, λ = 1.5                 Eq. 20–21, Table 5
The gate loss has two readings (`gate_loss`), both averaged over batch and channels:
- "literal": L_gate = −log(1 − Y') (Eq. 20 as printed). Its only minimum is Y' = 0, so it drives the skeleton gate
  to 0 and the fused feature towards the RGB half, against the text around it (the gate is to "force the learning of
  the decision-making modality's priority", and to rely on the skeleton "when the skeleton information itself is
  already accurate enough to independently accomplish the action recognition task").
- "reliability": L_gate = −[r log Y' + (1 − r) log(1 − Y')], the binary cross-entropy of the gate against the
  decision stream's reliability r = softmax(stream logits)[true class] (its true-class probability; the stream is
  frozen, r carries no gradient). Eq. 20 is exactly its term for an unreliable stream (r = 0); where the frozen
  skeleton stream alone recognises the action (r → 1) the gate is trained towards 1, i.e. the skeleton is
  weighted when it is reliable. At test time the gate still sees only Y_skel (Eq. 18): no label is used.
Reconstruction choices where the paper is silent (its Eq. 12–17 are missing from the published text):
- Non-local "positions" of the (B, 2C) vector: it is cut into `nonlocal_positions` equal tokens; the default 2
  makes the two modality features the positions (cross-modal association, "alignment of two features"); setting
  it to 2C treats every scalar as a position. θ, β, g (1×1 convs) are linear maps shared by all positions.
- Y_skel / Y_rgb are the two halves of the SE-weighted vector, in the concatenation order of Eq. 7.
- The two skeleton streams: the skeleton feature is the mean of the joint and bone features (same size C as the
  RGB feature, which Eq. 19 requires); the skeleton logits are the sum of the two streams' logits (2s-AGCN).
- L_gate is averaged over batch and channels (so λ does not depend on C); computed from the gate pre-activation a
  for numerical stability (softplus(a) = −log(1 − σ(a)), softplus(−a) = −log σ(a)).
- The published 43.26 M parameters: with one AGCN stream and `nonlocal_positions: 1` (Eq. 8–11's 1×1 convolutions
  applied to the (B, 2C) matrix as one 2C-channel position, the way a 1×1 convolution on a vector is usually
  written) the paper-size model has 42.40 M (−2.0 %); with two positions 40.83 M, with two streams 47.47 M.
- Fusion ablation (Table 3): "average", "multiply", "max" and "concatenate" fuse the two stream *features* and
  classify them with one FC layer; "amfi" is the module above. `decision_modality="rgb"` swaps the gate's source
  (Table 6).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from har.models.backbones.agcn import AGCN, AMFI_AGCN_CHANNELS, AMFI_AGCN_STRIDES, bone_vectors, person_weights
from har.models.backbones.resnet3d import RESNET3D18_BLOCKS, RESNET3D18_CHANNELS, ResNet3d, scaled_channels
from har.models.layers import SqueezeExcite, is_frozen, train_only

FUSIONS = ("average", "multiply", "max", "concatenate", "amfi")
GATE_LOSSES = ("literal", "reliability")
SKELETON_STREAMS = ("joint", "bone")
STAGES = ("rgb", "skeleton", "fusion")


@dataclass(frozen=True)
class AmfiNetConfig:
    """Every architectural hyperparameter. Defaults: the CPU variant (width 1/8, 64×64 clips, 3×7×7 stem)."""

    rgb_size: int = 64
    num_joints: int = 25
    num_persons: int = 2
    coord_channels: int = 3
    width: float = 0.125  # multiplies every backbone width; both streams end at round(512 · width) features
    rgb_base_channels: tuple[int, ...] = RESNET3D18_CHANNELS
    rgb_blocks: tuple[int, ...] = RESNET3D18_BLOCKS
    rgb_stem_kernel: tuple[int, int, int] = (3, 7, 7)
    rgb_stem_stride: tuple[int, int, int] = (1, 2, 2)
    agcn_base_channels: tuple[int, ...] = AMFI_AGCN_CHANNELS
    agcn_strides: tuple[int, ...] = AMFI_AGCN_STRIDES
    agcn_temporal_kernel: int = 9
    agcn_embed_reduction: int = 4
    agcn_dropout: float = 0.0
    skeleton_streams: tuple[str, ...] = SKELETON_STREAMS
    head_dropout: float = 0.0  # before each stream's own classifier
    fusion: str = "amfi"
    decision_modality: str = "skeleton"
    nonlocal_positions: int = 2
    nonlocal_reduction: int = 2  # inner width of θ, β, g = position width // this (Wang et al. use 2)
    se_reduction: int = 16
    fusion_dropout: float = 0.0  # before the fused classifier
    gate_lambda: float = 1.5
    gate_loss: str = "literal"  # GATE_LOSSES: Eq. 20 as printed, or the gate trained on the stream's reliability

    moved_keys: ClassVar[dict[str, str]] = {
        "rgb_frames": "the clip length is rgb_clips.zarr's own (video.clip_frames); ResNet3D pools over time",
        "skeleton_frames": "the skeleton length is skeleton.zarr's own (skeletons.frames); the AGCN pools over time",
    }

    def __post_init__(self):
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.decision_modality not in ("skeleton", "rgb"):
            raise ValueError(f"decision_modality must be 'skeleton' or 'rgb', got {self.decision_modality!r}")
        if self.gate_loss not in GATE_LOSSES:
            raise ValueError(f"gate_loss must be one of {GATE_LOSSES}, got {self.gate_loss!r}")
        if not self.skeleton_streams or not set(self.skeleton_streams) <= set(SKELETON_STREAMS):
            raise ValueError(f"skeleton_streams must be a non-empty subset of {SKELETON_STREAMS}")
        if len(self.rgb_blocks) != len(self.rgb_base_channels) or len(self.agcn_strides) != len(
                self.agcn_base_channels):
            raise ValueError("rgb_blocks / agcn_strides must have one entry per rgb / agcn channel entry")
        if self.rgb_channels[-1] != self.agcn_channels[-1]:
            raise ValueError(f"stream feature sizes differ: RGB {self.rgb_channels[-1]}, "
                             f"skeleton {self.agcn_channels[-1]} (Eq. 19 needs equal sizes)")
        if (2 * self.feature_dim) % self.nonlocal_positions:
            raise ValueError(f"nonlocal_positions {self.nonlocal_positions} must divide 2C = {2 * self.feature_dim}")

    @property
    def rgb_channels(self) -> tuple[int, ...]:
        return scaled_channels(self.rgb_base_channels, self.width)

    @property
    def agcn_channels(self) -> tuple[int, ...]:
        return scaled_channels(self.agcn_base_channels, self.width)

    @property
    def feature_dim(self) -> int:
        return self.rgb_channels[-1]

    @classmethod
    def paper(cls) -> AmfiNetConfig:
        """Paper scale: full widths, 112×112 clips, Hara's 7×7×7 stem, one AGCN (joint) stream (Sec. 3.2), the
        non-local block on the whole 2C vector (one position; 42.40 M parameters against the published 43.26 M).
        The AGCN block dropout rate is not given in the paper (its Fig. 3b lists a Dropout layer); 0.1 is our
        choice."""
        return cls(rgb_size=112, width=1.0, rgb_stem_kernel=(7, 7, 7), agcn_dropout=0.1, skeleton_streams=("joint",),
                   nonlocal_positions=1)


class RGBStream(nn.Module):
    """ResNet3D-18 + own classifier: clip (B, 3, T, H, W) -> {"rgb": (B, classes), "rgb_features": (B, C)}."""

    def __init__(self, config: AmfiNetConfig, num_classes: int):
        super().__init__()
        self.backbone = ResNet3d(3, config.rgb_channels, config.rgb_blocks, config.rgb_stem_kernel,
                                 config.rgb_stem_stride)
        self.head = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(config.feature_dim, num_classes))

    def forward(self, clip: torch.Tensor) -> dict[str, torch.Tensor]:
        if clip.dim() != 5 or clip.shape[1] != 3:
            raise ValueError(f"AMFI-Net RGB input must be (B, 3, T, H, W), got shape {tuple(clip.shape)}")
        features = self.backbone(clip)
        return {"rgb": self.head(features), "rgb_features": features}


class SkeletonStream(nn.Module):
    """2s-AGCN: one AGCN + classifier per stream (joint, bone) on (B, M, T, V, C) skeletons.

    Returns each stream's logits under its name, "skeleton" = their sum (2s-AGCN score fusion) and
    "skeleton_features" = the mean of the stream features (B, C).
    """

    def __init__(self, config: AmfiNetConfig, num_classes: int):
        super().__init__()
        self.networks = nn.ModuleDict({name: AGCN(
            config.coord_channels, config.agcn_channels, config.agcn_strides, config.num_joints, config.num_persons,
            temporal_kernel=config.agcn_temporal_kernel, embed_reduction=config.agcn_embed_reduction,
            dropout=config.agcn_dropout) for name in config.skeleton_streams})
        self.heads = nn.ModuleDict({name: nn.Sequential(
            nn.Dropout(config.head_dropout), nn.Linear(config.feature_dim, num_classes))
            for name in config.skeleton_streams})

    def forward(self, skeleton: torch.Tensor) -> dict[str, torch.Tensor]:
        weights = person_weights(skeleton)  # from the joints: a person's bones may all be zero
        outputs, features = {}, []
        for name, network in self.networks.items():
            stream_input = skeleton if name == "joint" else bone_vectors(skeleton)
            features.append(network(stream_input, weights))
            outputs[name] = self.heads[name](features[-1])
        outputs["skeleton"] = torch.stack([outputs[n] for n in self.networks]).sum(dim=0)
        outputs["skeleton_features"] = torch.stack(features).mean(dim=0)
        return outputs


class NonLocalFusion(nn.Module):
    """Embedded-Gaussian non-local block with residual (Eq. 8–11) on a (B, M) vector cut into P positions."""

    def __init__(self, dim: int, positions: int, reduction: int = 2):
        super().__init__()
        self.positions, width = positions, dim // positions
        inner = max(1, width // reduction)
        self.theta, self.beta, self.g = (nn.Linear(width, inner) for _ in range(3))
        self.w_z = nn.Linear(inner, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.view(x.shape[0], self.positions, -1)  # (B, P, M/P)
        affinity = torch.softmax(self.theta(tokens) @ self.beta(tokens).transpose(1, 2), dim=-1)  # f / c(x)
        return (self.w_z(affinity @ self.g(tokens)) + tokens).flatten(1)


class AMFIFusion(nn.Module):
    """Feature association -> SE weighting -> confidence gate -> classifier, on (B, C) skeleton and RGB features."""

    def __init__(self, config: AmfiNetConfig, num_classes: int):
        super().__init__()
        dim = config.feature_dim
        self.decision = config.decision_modality
        self.association = NonLocalFusion(2 * dim, config.nonlocal_positions, config.nonlocal_reduction)
        self.weighting = SqueezeExcite(2 * dim, reduction=config.se_reduction)
        self.gate = nn.Linear(dim, dim)
        self.classifier = nn.Sequential(nn.Dropout(config.fusion_dropout), nn.Linear(dim, num_classes))

    def forward(self, skeleton: torch.Tensor, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        weighted = self.weighting(self.association(torch.cat([skeleton, rgb], dim=1)))
        y_skeleton, y_rgb = weighted.chunk(2, dim=1)
        decider, other = (y_skeleton, y_rgb) if self.decision == "skeleton" else (y_rgb, y_skeleton)
        gate_logits = self.gate(decider)
        gate = torch.sigmoid(gate_logits)
        fused = decider * gate + other * (1 - gate)
        return {"logits": self.classifier(fused), "gate": gate, "gate_logits": gate_logits,
                "fusion_features": fused}


class FeatureFusion(nn.Module):
    """Table 3 baselines: average / multiply / max / concatenate the two features, then one FC classifier."""

    def __init__(self, config: AmfiNetConfig, num_classes: int):
        super().__init__()
        self.mode = config.fusion
        in_dim = config.feature_dim * (2 if self.mode == "concatenate" else 1)
        self.classifier = nn.Sequential(nn.Dropout(config.fusion_dropout), nn.Linear(in_dim, num_classes))

    def forward(self, skeleton: torch.Tensor, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.mode == "average":
            fused = (skeleton + rgb) / 2
        elif self.mode == "multiply":
            fused = skeleton * rgb
        elif self.mode == "max":
            fused = torch.maximum(skeleton, rgb)
        else:
            fused = torch.cat([skeleton, rgb], dim=1)
        return {"logits": self.classifier(fused), "fusion_features": fused}


def _run_part(module: nn.Module, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run a sub-network, without recording a graph when none of its parameters trains (frozen stream)."""
    with torch.set_grad_enabled(torch.is_grad_enabled() and not is_frozen(module)):
        return module(*inputs)


class AmfiNet(nn.Module):
    """AMFI-Net. forward(rgb (B, 3, T, H, W), skeleton (B, M, T, V, C)) -> dict with "logits" (fused), "rgb",
    "skeleton", "joint"/"bone" logits, "rgb_features", "skeleton_features", "fusion_features" and, for the AMFI
    fusion, "gate" (B, C) = Y' in [0, 1] and "gate_logits". Sub-networks: model.rgb, model.skeleton, model.fusion.

    A frozen stream runs without autograd (so no input gradients flow through it).
    """

    def __init__(self, config: AmfiNetConfig, num_classes: int):
        super().__init__()
        self.config = config
        self.rgb = RGBStream(config, num_classes)
        self.skeleton = SkeletonStream(config, num_classes)
        self.fusion = AMFIFusion(config, num_classes) if config.fusion == "amfi" else FeatureFusion(config,
                                                                                                     num_classes)

    def forward_stream(self, stream: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One stream alone (stream pretraining): "rgb" on a clip, "skeleton" on a skeleton."""
        if stream not in ("rgb", "skeleton"):
            raise ValueError(f"stream must be 'rgb' or 'skeleton', got {stream!r}")
        return _run_part(getattr(self, stream), x)

    def forward(self, rgb: torch.Tensor, skeleton: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = {**_run_part(self.rgb, rgb), **_run_part(self.skeleton, skeleton)}
        outputs.update(self.fusion(outputs["skeleton_features"], outputs["rgb_features"]))
        return outputs


def build_amfi_net(config: AmfiNetConfig, num_classes: int) -> AmfiNet:
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    return AmfiNet(config, num_classes)


def set_stage(model: AmfiNet, stage: str) -> AmfiNet:
    """Train one part (sub-network), freeze the others (har.models.layers.train_only): "rgb", "skeleton" or
    "fusion" (the fusion module)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    train_only(model, [stage])
    return model


def gate_reliability(outputs: dict[str, torch.Tensor], target: torch.Tensor, config: AmfiNetConfig) -> torch.Tensor:
    """r (B, 1): the decision stream's softmax probability of the true class (no gradient)."""
    logits = outputs[config.decision_modality].detach().float()
    return logits.softmax(dim=1).gather(1, target.view(-1, 1))


def gate_loss(outputs: dict[str, torch.Tensor], target: torch.Tensor, config: AmfiNetConfig) -> torch.Tensor:
    """L_gate averaged over batch and channels of the gate pre-activation a (B, C), Y' = σ(a):
    "literal" mean(−log(1 − Y')) (Eq. 20); "reliability" mean(−r log Y' − (1 − r) log(1 − Y')) with
    r = gate_reliability (equal to Eq. 20 where r = 0)."""
    logits = outputs["gate_logits"]
    if config.gate_loss == "literal":
        return F.softplus(logits).mean()
    reliability = gate_reliability(outputs, target, config).to(logits.dtype).expand_as(logits)
    return F.binary_cross_entropy_with_logits(logits, reliability)


def loss(outputs: dict[str, torch.Tensor], target: torch.Tensor,
         config: AmfiNetConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_total = CE(fused logits) + λ · L_gate (Eq. 20–21, L_gate by `config.gate_loss`); no gate term for the
    baseline fusions. Returns (total, detached parts {"fusion", "gate", "total"} and, for the gate, "gate_value"
    = mean Y')."""
    fusion = F.cross_entropy(outputs["logits"], target)
    gate = gate_loss(outputs, target, config) if "gate_logits" in outputs else fusion.new_zeros(())
    total = fusion + config.gate_lambda * gate
    parts = {"fusion": fusion.detach(), "gate": gate.detach(), "total": total.detach()}
    if "gate" in outputs:
        parts["gate_value"] = outputs["gate"].detach().mean()
    return total, parts


def stream_loss(outputs: dict[str, torch.Tensor], target: torch.Tensor,
                stream: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Stream pretraining loss: CE of the RGB logits, or the sum of the joint and bone CEs (each 2s-AGCN stream is
    trained on its own classification loss)."""
    names = ["rgb"] if stream == "rgb" else [n for n in SKELETON_STREAMS if n in outputs]
    if stream not in ("rgb", "skeleton") or not names:
        raise ValueError(f"stream_loss: unknown stream {stream!r} or its logits missing from outputs")
    parts = {name: F.cross_entropy(outputs[name], target) for name in names}
    total = torch.stack(list(parts.values())).sum()
    return total, {**{k: v.detach() for k, v in parts.items()}, "total": total.detach()}


def gate_statistics(gates: torch.Tensor) -> dict[str, float]:
    """Mean and (population) variance of gate values Y' (N, C) collected over a split (paper Sec. 4.3.5)."""
    values = gates.detach().float().flatten()
    return {"gate_mean": values.mean().item(), "gate_var": values.var(unbiased=False).item()}


GATE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def gate_summary(sample_gates: np.ndarray) -> dict[str, float]:
    """(N,) per-sample mean gate values -> {"n", "mean", "q05", "q25", "q50", "q75", "q95"} (N >= 1)."""
    quantiles = np.quantile(sample_gates, GATE_QUANTILES)
    return {"n": int(sample_gates.size), "mean": float(sample_gates.mean()),
            **{f"q{round(100 * q):02d}": float(v) for q, v in zip(GATE_QUANTILES, quantiles)}}


def gate_per_class(gates: np.ndarray, target: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """gates (N, C) Y' values, target (N,) class indices into names -> {name: gate_summary of the per-sample
    channel-mean gate of that class's samples}, classes without samples left out."""
    sample_gates = np.asarray(gates, dtype=np.float64).reshape(len(target), -1).mean(axis=1)
    return {name: gate_summary(sample_gates[target == k]) for k, name in enumerate(names) if np.any(target == k)}


def with_fusion(config: AmfiNetConfig, fusion: str) -> AmfiNetConfig:
    """The same configuration with another fusion scheme (Table 3 ablation)."""
    return dataclasses.replace(config, fusion=fusion)
