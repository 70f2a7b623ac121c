"""AMFI-Net (Zhao, Tang, Hu, Wang, Qiao, Tong, J. Visual Communication and Image Representation 2025: "Attention
mechanism based multimodal feature fusion network for human action recognition"), written from the paper.

Streams: ResNet3D-18 on an RGB clip (B, 3, T=16, H, W) min-max normalised, and 2s-AGCN (joint + bone streams, with
the paper's extra 512-channel block) on a skeleton (B, M=2, T, V=25, C=3). Each stream has its own classifier for
stream pretraining (paper Sec. 4.2 / Algorithm 1); then both are frozen and only the fusion module trains.

AMFI module (Sec. 3.3), on the stream features X_skel, X_rgb (B, C):
  X = concat(X_skel, X_rgb) (B, 2C)                                          Eq. 7
  Z = W_z y + X, y_i = Σ_j softmax_j(θ(x_i)ᵀ β(x_j)) g(x_j)                  Eq. 8–11 (embedded Gaussian)
  Y = SE(Z), split back into Y_skel, Y_rgb (B, C)                          Sec. 3.3.2
  Y' = σ(FC(Y_skel)), Y_fusion = Y_skel ⊙ Y' + Y_rgb ⊙ (1 − Y')            Eq. 18–19
  logits = FC(Y_fusion); L_total = CE + λ · mean(−log(1 − Y')), λ = 1.5    Eq. 20–21, Table 5
Reconstruction choices where the paper is silent (its Eq. 12–17 are missing from the published text):
- Non-local "positions" of the (B, 2C) vector: it is cut into `nonlocal_positions` equal tokens; the default 2
  makes the two modality features the positions (cross-modal association, "alignment of two features"); setting
  it to 2C treats every scalar as a position. θ, β, g (1×1 convs) are linear maps shared by all positions.
- Y_skel / Y_rgb are the two halves of the SE-weighted vector, in the concatenation order of Eq. 7.
- The two skeleton streams: the skeleton feature is the mean of the joint and bone features (same size C as the
  RGB feature, which Eq. 19 requires); the skeleton logits are the sum of the two streams' logits (2s-AGCN).
- L_gate is averaged over batch and channels (so λ does not depend on C); computed as softplus(a) = −log(1 − σ(a))
  from the gate pre-activation a for numerical stability.
- Fusion ablation (Table 3): "average", "multiply", "max" and "concatenate" fuse the two stream *features* and
  classify them with one FC layer; "amfi" is the module above. `decision_modality="rgb"` swaps the gate's source
  (Table 6).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from har.models.backbones.agcn import AGCN, AMFI_AGCN_CHANNELS, AMFI_AGCN_STRIDES, bone_vectors, person_weights
from har.models.backbones.resnet3d import RESNET3D18_BLOCKS, RESNET3D18_CHANNELS, ResNet3d, scaled_channels
from har.models.layers import SqueezeExcite, is_frozen, train_only

FUSIONS = ("average", "multiply", "max", "concatenate", "amfi")
SKELETON_STREAMS = ("joint", "bone")
STAGES = ("rgb", "skeleton", "fusion")


@dataclass(frozen=True)
class AmfiNetConfig:
    """Every architectural hyperparameter. Defaults: the CPU variant (width 1/8, 64×64 clips, 3×7×7 stem)."""

    rgb_frames: int = 16
    rgb_size: int = 64
    skeleton_frames: int = 32
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

    def __post_init__(self):
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.decision_modality not in ("skeleton", "rgb"):
            raise ValueError(f"decision_modality must be 'skeleton' or 'rgb', got {self.decision_modality!r}")
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
        """Paper scale: full widths, 112×112 clips, Hara's 7×7×7 stem. The AGCN block dropout rate is not given
        in the paper (its Fig. 3b lists a Dropout layer); 0.1 is our choice."""
        return cls(rgb_size=112, width=1.0, rgb_stem_kernel=(7, 7, 7), agcn_dropout=0.1)


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


def loss(outputs: dict[str, torch.Tensor], target: torch.Tensor,
         config: AmfiNetConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_total = CE(fused logits) + λ · L_gate, L_gate = mean(−log(1 − Y')) (Eq. 20–21); no gate term for the
    baseline fusions. Returns (total, detached parts {"fusion", "gate", "total"})."""
    fusion = F.cross_entropy(outputs["logits"], target)
    gate = F.softplus(outputs["gate_logits"]).mean() if "gate_logits" in outputs else fusion.new_zeros(())
    total = fusion + config.gate_lambda * gate
    return total, {"fusion": fusion.detach(), "gate": gate.detach(), "total": total.detach()}


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


def with_fusion(config: AmfiNetConfig, fusion: str) -> AmfiNetConfig:
    """The same configuration with another fusion scheme (Table 3 ablation)."""
    return dataclasses.replace(config, fusion=fusion)
