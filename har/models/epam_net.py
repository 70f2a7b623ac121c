"""EPAM-Net (Abdelkawy, Ali, Farag, "EPAM-Net: An Efficient Pose-driven Attention-guided Multimodal Network for
Video Action Recognition"): RGB-X3D + Pose-X3D, pose-driven spatial-temporal attention, score fusion.

- RGB stream: X3D-M (paper Table 1) on person-centric RGB clips (B, 3, T_M, H, W), head GAP -> FC 2048 -> ReLU ->
  dropout -> FC.
- Pose stream: X3D-S without its first stage, stem stride 1 (Table 2) on pseudo-heatmaps (B, K, T_N, h, w),
  head GAP -> dropout -> FC.
- Attention (§3.3, eqs. 2-4) on the final feature maps of both backbones (the conv5 outputs, the last maps of
  Tables 1 and 2, which the paper sizes to match spatially): the pose features are aligned to the RGB frames by
  time-strided sampling (T_N = stride x T_M; frames offset, offset + stride, ...); A_S = sigmoid(conv1x7x7(
  ReLU(conv1x3x3(f_s)))) with the 1x3x3 conv compressing the channels to 1; A_T = sigmoid(W2 ReLU(W1 Z)) over the
  T_M frames of A_S's spatial mean Z; f'_r = f_r * (A_S * A_T) feeds the RGB head.
- Loss (eq. 5): cross-entropy of the RGB head + cross-entropy of the pose head.
- Test-time score fusion of the two heads. The paper describes score fusion as aggregating the streams' softmax
  scores (§1, Table 5 #3), so "logits" = log(w_rgb p_rgb + w_pose p_pose) with normalised weights (softmax of it =
  the fused probabilities; argmax = the fused decision); fusion="logits" gives w_rgb z_rgb + w_pose z_pose instead
  (what the authors' released evaluation script does, with weights 1, 1).

Alignment: the config checks that the two final maps have the same side and that pose_frames is a multiple of
rgb_frames; the model checks the tensors it gets. Paper: RGB 16x224x224 -> 16x7x7, pose 48x56x56 -> 48x7x7 ->
16x7x7. CPU default (widths from 8, one block per stage, channels-last; forward+backward of 16 samples measured
at 0.61-0.64 s on 2 threads with one other job running, 0.74 s on 1 thread): RGB 16x64x64 -> stem stride 2,
stage strides (2, 2, 2, 1) -> 16x4x4; pose 48x32x32 -> stem stride 2 (1 in the paper; a stride-1 stem on
25x48x32x32 made the pose stream ~4x slower, 1.4 s vs 0.36 s), stage strides (2, 2, 1) -> 48x4x4 -> time stride 3
-> 16x4x4.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from har.models.backbones.x3d import X3D, X3DConfig, X3DHead, init_x3d_weights

STREAMS = ("rgb", "pose")


@dataclass(frozen=True)
class EpamRgbConfig(X3DConfig):
    """RGB-X3D backbone; defaults = the CPU variant (X3DConfig's defaults are X3D-M), so a partial params.yaml
    mapping starts from the CPU layout. EpamRgbConfig.x3d_m() = paper Table 1."""
    base_width: int = 8
    depths: tuple[int, ...] = (1, 1, 1, 1)
    spatial_strides: tuple[int, ...] = (2, 2, 2, 1)
    # Zero-initialised residual gammas help deep X3D-M; with one block per stage (all projection blocks) they
    # left the CPU variant nearly untrainable in a short schedule (15 % vs 48 % top-1 after 5 epochs here).
    zero_init_last_bn: bool = False
    channels_last: bool = True


@dataclass(frozen=True)
class EpamPoseConfig(X3DConfig):
    """Pose-X3D backbone on 25-joint heatmaps; defaults = the CPU variant. EpamPoseConfig.pose_x3d_s(25) =
    paper Table 2."""
    in_channels: int = 25
    base_width: int = 8
    depths: tuple[int, ...] = (1, 1, 1)
    stem_spatial_stride: int = 2
    spatial_strides: tuple[int, ...] = (2, 2, 1)
    se_reduction: int = 0
    swish: bool = False
    zero_init_last_bn: bool = False
    channels_last: bool = True


@dataclass(frozen=True)
class EpamNetConfig:
    """Every architectural choice of EPAM-Net; defaults = a CPU-sized variant, `paper()` = Tables 1 and 2.

    fusion_weights = (rgb, pose). pose_time_offset: which pose frame of each group of pose_frames // rgb_frames
    matches an RGB frame; None = the middle one (the frame whose time equals the RGB frame's when both clips
    sample the video uniformly at bin centres). temporal_reduction: A_T's bottleneck = frames // reduction (the
    paper does not give it).
    """
    rgb: EpamRgbConfig = dataclasses.field(default_factory=EpamRgbConfig)
    pose: EpamPoseConfig = dataclasses.field(default_factory=EpamPoseConfig)
    rgb_frames: int = 16
    rgb_size: int = 64
    pose_frames: int = 32
    pose_size: int = 32
    rgb_head_hidden: int = 0  # paper: X3D's 2048-wide fc1; on 500 clips it slowed learning several-fold
    pose_head_hidden: int = 0
    dropout: float = 0.2  # paper: 0.5
    attention_kernels: tuple[int, int] = (3, 7)
    temporal_reduction: int = 4
    pose_time_offset: int | None = None
    fusion: Literal["softmax", "logits"] = "softmax"
    fusion_weights: tuple[float, float] = (1.0, 1.0)

    @classmethod
    def paper(cls) -> EpamNetConfig:
        """Paper scale: X3D-M on 16x224x224 RGB, Pose-X3D on 48x56x56 heatmaps, both ending at 7x7.

        The pose input has 25 channels (this project's NTU joints; the paper's HRNet heatmaps have 17, which only
        changes the stem by 1,728 weights)."""
        return cls(rgb=EpamRgbConfig.x3d_m(), pose=EpamPoseConfig.pose_x3d_s(in_channels=25), rgb_size=224,
                   pose_size=56, pose_frames=48, rgb_head_hidden=2048, dropout=0.5)

    def __post_init__(self) -> None:
        rgb_side, pose_side = self.rgb.output_size(self.rgb_size), self.pose.output_size(self.pose_size)
        if rgb_side != pose_side:
            raise ValueError(f"EpamNetConfig: RGB features are {rgb_side}x{rgb_side} ({self.rgb_size} input) but pose "
                             f"features are {pose_side}x{pose_side} ({self.pose_size} input); pose attention needs "
                             "equal maps: change the strides or input sizes")
        if self.rgb_frames < 1 or self.pose_frames % self.rgb_frames != 0:
            raise ValueError(f"EpamNetConfig: pose_frames ({self.pose_frames}) must be a multiple of rgb_frames "
                             f"({self.rgb_frames}) for time-strided alignment")
        if self.pose_time_offset is not None and not 0 <= self.pose_time_offset < self.time_stride():
            raise ValueError(f"EpamNetConfig: pose_time_offset must be in [0, {self.time_stride()}), got "
                             f"{self.pose_time_offset}")
        if min(self.fusion_weights) < 0 or sum(self.fusion_weights) <= 0:
            raise ValueError(f"EpamNetConfig: fusion_weights must be >= 0 with a positive sum, got "
                             f"{self.fusion_weights}")
        if not 1 <= self.temporal_reduction <= self.rgb_frames:
            raise ValueError(f"EpamNetConfig: temporal_reduction must be in [1, rgb_frames], got "
                             f"{self.temporal_reduction}")
        if any(k < 1 or k % 2 == 0 for k in self.attention_kernels):
            raise ValueError(f"EpamNetConfig: attention_kernels must be odd, got {self.attention_kernels}")

    def time_stride(self) -> int:
        return self.pose_frames // self.rgb_frames

    def time_offset(self) -> int:
        return self.time_stride() // 2 if self.pose_time_offset is None else self.pose_time_offset

    def feature_size(self) -> int:
        """Side of the (aligned) final feature maps."""
        return self.rgb.output_size(self.rgb_size)


class PoseDrivenAttention(nn.Module):
    """Spatial map A_S and temporal weights A_T from pose features (paper eqs. 2-4).

    (B, C_p, T_N, h, w) -> A_S (B, 1, T_M, h, w), A_T (B, 1, T_M, 1, 1), both in (0, 1); T_N = stride x T_M.
    """

    def __init__(self, pose_channels: int, frames: int, time_stride: int, time_offset: int,
                 temporal_reduction: int, kernels: tuple[int, int] = (3, 7)):
        super().__init__()
        self.frames, self.time_stride, self.time_offset = frames, time_stride, time_offset
        first, second = kernels
        self.compress = nn.Conv3d(pose_channels, 1, (1, first, first), padding=(0, first // 2, first // 2))
        self.spatial = nn.Conv3d(1, 1, (1, second, second), padding=(0, second // 2, second // 2))
        hidden = max(1, frames // temporal_reduction)
        self.temporal = nn.Sequential(nn.Linear(frames, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, frames),
                                      nn.Sigmoid())

    def forward(self, pose_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        expected = self.frames * self.time_stride
        if pose_features.dim() != 5 or pose_features.shape[2] != expected:
            raise ValueError(f"PoseDrivenAttention: expected pose features (B, C, {expected}, h, w), got "
                             f"{tuple(pose_features.shape)}")
        aligned = pose_features[:, :, self.time_offset::self.time_stride]
        spatial = torch.sigmoid(self.spatial(F.relu(self.compress(aligned))))
        squeezed = spatial.mean(dim=(3, 4)).flatten(1)  # (B, T_M): eq. 3
        temporal = self.temporal(squeezed)
        return spatial, temporal.view(temporal.shape[0], 1, self.frames, 1, 1)


class EpamStream(nn.Module):
    """One stream: X3D backbone + classification head. (B, C, T, H, W) -> (B, num_classes)."""

    def __init__(self, backbone: X3DConfig, head_hidden: int, dropout: float, num_classes: int):
        super().__init__()
        self.backbone = X3D(backbone)
        self.head = X3DHead(backbone.out_channels(), num_classes, head_hidden, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class EpamNet(nn.Module):
    """forward(rgb (B, 3, T_M, H, W), heatmaps (B, K, T_N, h, w)) -> dict:
    "logits" (B, num_classes) fused scores (see module doc), "rgb" / "pose" (B, num_classes) each head's logits,
    "spatial_attention" (B, T_M, s, s) A_S, "temporal_attention" (B, T_M) A_T.

    model.rgb / model.pose are the streams (backbone + head) and model.attention the attention block, so a stream
    can be trained alone with forward_stream and frozen with har.models.layers.set_frozen.
    """

    def __init__(self, config: EpamNetConfig, num_classes: int):
        super().__init__()
        self.config = config
        self.rgb = EpamStream(config.rgb, config.rgb_head_hidden, config.dropout, num_classes)
        self.pose = EpamStream(config.pose, config.pose_head_hidden, config.dropout, num_classes)
        self.attention = PoseDrivenAttention(config.pose.out_channels(), config.rgb_frames, config.time_stride(),
                                             config.time_offset(), config.temporal_reduction,
                                             config.attention_kernels)

    def forward(self, rgb: torch.Tensor, heatmaps: torch.Tensor) -> dict[str, torch.Tensor]:
        rgb_features = self.rgb.backbone(rgb)
        pose_features = self.pose.backbone(heatmaps)
        if rgb_features.shape[2] != self.config.rgb_frames or \
                rgb_features.shape[3:] != pose_features.shape[3:]:
            raise ValueError(f"EpamNet: RGB features {tuple(rgb_features.shape)} (from {tuple(rgb.shape)}) and pose "
                             f"features {tuple(pose_features.shape)} (from {tuple(heatmaps.shape)}) do not align; "
                             f"expected {self.config.rgb_frames} RGB frames and equal spatial maps")
        spatial, temporal = self.attention(pose_features)
        rgb_logits = self.rgb.head(rgb_features * (spatial * temporal))
        pose_logits = self.pose.head(pose_features)
        return {"logits": fuse_scores(rgb_logits, pose_logits, self.config), "rgb": rgb_logits,
                "pose": pose_logits, "spatial_attention": spatial.squeeze(1),
                "temporal_attention": temporal.flatten(1)}

    def forward_stream(self, stream: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One stream alone (no attention: the paper's stream pre-training), {"logits": z, stream: z}."""
        if stream not in STREAMS:
            raise ValueError(f"EpamNet.forward_stream: unknown stream {stream!r}, expected one of {STREAMS}")
        logits = getattr(self, stream)(x)
        return {"logits": logits, stream: logits}


def fuse_scores(rgb_logits: torch.Tensor, pose_logits: torch.Tensor, config: EpamNetConfig) -> torch.Tensor:
    """Late fusion of the two heads, (B, K) x 2 -> (B, K).

    "softmax": log of the weighted mean of the softmax probabilities (computed stably in log space);
    "logits": weighted sum of the logits.
    """
    w_rgb, w_pose = config.fusion_weights
    if config.fusion == "logits":
        return w_rgb * rgb_logits + w_pose * pose_logits
    log_weights = [math.log(w) if w > 0 else -math.inf for w in (w_rgb, w_pose)]
    stacked = torch.stack([F.log_softmax(rgb_logits, dim=1) + log_weights[0],
                           F.log_softmax(pose_logits, dim=1) + log_weights[1]])
    return torch.logsumexp(stacked, dim=0) - math.log(w_rgb + w_pose)


def loss(outputs: dict[str, torch.Tensor], target: torch.Tensor,
         config: EpamNetConfig | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Paper eq. 5: CE(rgb head) + CE(pose head). With the outputs of forward_stream (one stream) it is that
    stream's CE. target: (B,) int64 class indices. Returns (total, {"rgb": ..., "pose": ...} of those present)."""
    parts = {name: F.cross_entropy(outputs[name], target) for name in STREAMS if name in outputs}
    if not parts:
        raise ValueError(f"epam_net.loss: outputs have none of the stream logits {STREAMS}: {sorted(outputs)}")
    return sum(parts.values()), parts


def build_epam_net(config: EpamNetConfig, num_classes: int,
                   generator: torch.Generator | None = None) -> EpamNet:
    """EPAM-Net with weights drawn from `generator` (default: a generator seeded with 0, so building is
    deterministic and leaves the global RNG alone)."""
    if num_classes < 1:
        raise ValueError(f"build_epam_net: num_classes must be >= 1, got {num_classes}")
    with torch.random.fork_rng(devices=[]):  # nn modules draw default weights from the global RNG: restore it
        model = EpamNet(config, num_classes)
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    init_x3d_weights(model, generator)
    for conv in (model.attention.compress, model.attention.spatial):
        # fan-in scaling: fan-out of a 1-channel output would give the C_p-channel sum a huge variance and
        # saturate the sigmoid from the start
        nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu", generator=generator)
    return model
