"""Pose-driven attention over body-part I3D features: Das, Chaudhary, Bremond & Thonnat, "Where to Focus on for
Human Action Recognition?", WACV 2019.

Three I3D sub-networks (separate weights) see the crops of the left hand, right hand and full body and give the
last Inception block's feature maps g_k (B, C, t, h, w). A 3-layer stacked LSTM reads the 3D skeleton sampled
at `pose_steps` time steps (the video is cut into that many equal segments, one frame per segment: random in
training, fixed in test), its last layer's hidden states of ALL time steps are concatenated into h and give
s = W_s tanh(W_h h + b_s) + b_us, alpha = softmax(s) (eq. 2-3). F = sum_k alpha_k g_k (eq. 4) is pooled after
the weighting and classified. Unlike the authors' public code, the attention layer is trainable and the
regulariser of eq. 5 is applied (`loss`). W_s and b_us start at zero, so alpha = 1/3 for every input at start
("initialise the attention scores with equal values", Algorithm 1); W_h is Gaussian.

Staged training (Algorithm 1 + Sec. 3.3), via `configure_stage`: "parts" (each part network alone,
`forward_stream(name, crops=...)`), "pose" (the LSTM alone, `forward_stream("pose", skeleton=...)`), "attention"
(attention + fused classifier, N1 iterations; pose LSTM and parts frozen), "finetune" (part trunks + attention
+ classifier; the pose LSTM stays frozen, "fixing the learned Pose LSTM"). Test time (Sec. 4): logits of 5
sub-sequences are averaged, `predict_test_views`. Two-person samples: both bodies' 25 joints are concatenated
per LSTM step (the second is zeros when absent).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from har.layout import CROP_PARTS, NUM_JOINTS
from har.models.backbones.i3d import InceptionI3d
from har.models.layers import train_only

PART_NAMES: tuple[str, ...] = tuple(name for name, _ in CROP_PARTS)  # left_hand, right_hand, full_body
STAGES = ("parts", "pose", "attention", "finetune", "part_heads")


@dataclass(frozen=True)
class DasAttentionConfig:
    """Defaults: CPU variant (I3D at 1/8 width with a 3×3×3 stem, 12-frame windows of 32×32 crops); `paper()`:
    published scale. The crop size is the part_crops store's (video.crop_size): the I3D reads any size."""

    i3d_width: float = 0.125
    i3d_stem_kernel: tuple[int, int, int] = (3, 3, 3)
    i3d_stem_stride: tuple[int, int, int] = (2, 2, 2)
    clip_frames: int = 12          # crop window length T the part networks see (a window of the stored track)
    persons: int = 2               # skeleton bodies per frame, concatenated in the LSTM input
    joints: int = NUM_JOINTS
    pose_steps: int = 20           # LSTM time steps = equal video segments, one frame each (paper: 20 for NTU)
    lstm_hidden: int = 128         # paper: 512 (NTU)
    lstm_layers: int = 3
    attention_hidden: int = 64     # width of tanh(W_h h + b_s); not given in the paper
    lstm_dropout: float = 0.5      # paper: 50 % dropout
    head_dropout: float = 0.5
    lambda_attention: float = 1e-5  # lambda_1 (NTU); 1e-4 for N-UCLA
    lambda_weights: float = 1e-3    # lambda_2
    # Which W_uv eq. 5's lambda_2 term covers (`regularized_weights`): "all" trainable connection matrices of the
    # stage (the I3D trunks too, in fine-tuning), "fusion" (attention W_h, W_s + fused classifier), "attention"
    # (W_h, W_s only)
    lambda_weights_scope: Literal["all", "fusion", "attention"] = "fusion"
    test_views: int = 5             # sub-sequences averaged at test time

    moved_keys: ClassVar[dict[str, str]] = {
        "crop_size": "the crop size is the part_crops store's own (video.crop_size); the I3D reads any size",
    }

    @classmethod
    def paper(cls) -> DasAttentionConfig:
        """Full I3D (Carreira & Zisserman) on 64×224×224 crops, 512-unit LSTMs. attention_hidden is our choice."""
        return cls(i3d_width=1.0, i3d_stem_kernel=(7, 7, 7), clip_frames=64, lstm_hidden=512, attention_hidden=512)


class PartNetwork(nn.Module):
    """One body part: I3D trunk + own classifier. clips (B, 3, T, h, w) → (maps (B, C, t, h', w'), logits)."""

    def __init__(self, config: DasAttentionConfig, num_classes: int):
        super().__init__()
        self.backbone = InceptionI3d(3, config.i3d_width, config.i3d_stem_stride, config.i3d_stem_kernel)
        self.head = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(self.backbone.out_channels, num_classes))

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.backbone(clips)
        return maps, self.head(maps.mean(dim=(2, 3, 4)))


class PoseLSTM(nn.Module):
    """3-layer stacked LSTM + own classifier (pretraining). (B, S, M·V·3) → (hidden (B, S, H), logits (B, classes))."""

    def __init__(self, config: DasAttentionConfig, num_classes: int):
        super().__init__()
        self.lstm = nn.LSTM(config.persons * config.joints * 3, config.lstm_hidden, config.lstm_layers,
                            batch_first=True, dropout=config.lstm_dropout)
        # The paper does not say how the pretraining classifier reads the LSTM; the mean over steps uses every step
        # like the attention's concatenation does.
        self.head = nn.Sequential(nn.Dropout(config.lstm_dropout), nn.Linear(config.lstm_hidden, num_classes))

    def forward(self, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, _ = self.lstm(steps)
        return hidden, self.head(hidden.mean(dim=1))


class PartAttention(nn.Module):
    """Eq. 2-3: hidden (B, S, H) → (scores s (B, K), alpha = softmax(s) (B, K)). Trainable, alpha = 1/K at init."""

    def __init__(self, config: DasAttentionConfig, num_parts: int = len(PART_NAMES)):
        super().__init__()
        self.hidden = nn.Linear(config.pose_steps * config.lstm_hidden, config.attention_hidden)  # W_h, b_s
        self.score = nn.Linear(config.attention_hidden, num_parts)                                # W_s, b_us
        nn.init.xavier_normal_(self.hidden.weight)  # "remaining network parameters using Gaussian"
        nn.init.zeros_(self.hidden.bias)
        nn.init.zeros_(self.score.weight)           # equal scores for every input at start
        nn.init.zeros_(self.score.bias)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(torch.tanh(self.hidden(hidden.flatten(1))))
        return scores, torch.softmax(scores, dim=1)


def skeleton_lengths(skeleton: torch.Tensor) -> torch.Tensor:
    """Valid frames per sample of zero-padded skeletons (B, M, T, V, C) → (B,) int64 (last non-zero frame + 1)."""
    present = skeleton.ne(0).any(dim=4).any(dim=3).any(dim=1)  # (B, T)
    if not bool(present.any(dim=1).all()):
        empty = torch.nonzero(~present.any(dim=1)).flatten().tolist()
        raise ValueError(f"skeleton batch items {empty} are all zeros: no valid frame to sample the pose from")
    frame = torch.arange(skeleton.shape[2], device=skeleton.device)
    return (present * (frame + 1)).amax(dim=1)


def segment_frame_indices(lengths: torch.Tensor, steps: int, offsets: torch.Tensor | float) -> torch.Tensor:
    """One frame per equal segment: lengths (B,), offsets in [0, 1) (scalar or (B, steps)) → (B, steps) int64.

    Segment k of a length-L video covers [k·L/S, (k+1)·L/S); the frame at relative position `offset` in it is
    taken (0.5 = segment centre). Videos shorter than S frames repeat frames.
    """
    position = torch.arange(steps, device=lengths.device, dtype=torch.float64) + torch.as_tensor(
        offsets, dtype=torch.float64, device=lengths.device)
    index = torch.floor(position * lengths.to(torch.float64)[:, None] / steps).long()
    return torch.minimum(index, lengths[:, None] - 1)


def random_pose_offsets(batch: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Training-time segment offsets (B, steps) in [0, 1): a random frame in each segment, as the paper samples."""
    return torch.rand(batch, steps, generator=generator, dtype=torch.float64)


def pose_sequence(skeleton: torch.Tensor, steps: int, offsets: torch.Tensor | float = 0.5) -> torch.Tensor:
    """Skeleton (B, M, T, V, C) → LSTM input (B, steps, M·V·C): sampled frames, every body's joints concatenated."""
    index = segment_frame_indices(skeleton_lengths(skeleton), steps, offsets).to(skeleton.device)
    frames = skeleton.permute(0, 2, 1, 3, 4).flatten(2)  # (B, T, M·V·C)
    return torch.gather(frames, 1, index[:, :, None].expand(-1, -1, frames.shape[2]))


class DasAttentionNet(nn.Module):
    """forward(crops (B, 3, 3, T, h, w), skeleton (B, M, T', V, 3)) → dict of logits and alpha (see `forward`)."""

    def __init__(self, config: DasAttentionConfig, num_classes: int):
        super().__init__()
        self.config = config
        self.parts = nn.ModuleDict({name: PartNetwork(config, num_classes) for name in PART_NAMES})
        self.pose = PoseLSTM(config, num_classes)
        self.attention = PartAttention(config)
        channels = self.parts[PART_NAMES[0]].backbone.out_channels
        self.classifier = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(channels, num_classes))

    def forward(self, crops: torch.Tensor, skeleton: torch.Tensor,
                pose_offsets: torch.Tensor | float = 0.5) -> dict[str, torch.Tensor]:
        """Keys: "logits" (fused), "left_hand", "right_hand", "full_body", "pose" (B, classes); "attention" (B, 3).

        `pose_offsets`: where in each skeleton segment the LSTM's frame is taken (`random_pose_offsets` in
        training, 0.5 or the test views' offsets otherwise).
        """
        self._check_inputs(crops, skeleton)
        outputs, maps = {}, []
        for index, name in enumerate(PART_NAMES):
            part_maps, outputs[name] = self.parts[name](crops[:, index])
            maps.append(part_maps)
        hidden, outputs["pose"] = self.pose(pose_sequence(skeleton, self.config.pose_steps, pose_offsets))
        _, alpha = self.attention(hidden)
        fused = sum(alpha[:, k, None, None, None, None] * part_maps for k, part_maps in enumerate(maps))
        # Pooled after the weighting (eq. 4 weights the 4-D maps); with average pooling the order is immaterial.
        outputs["logits"] = self.classifier(fused.mean(dim=(2, 3, 4)))
        outputs["attention"] = alpha
        return outputs

    def forward_stream(self, name: str, crops: torch.Tensor | None = None, skeleton: torch.Tensor | None = None,
                       pose_offsets: torch.Tensor | float = 0.5) -> torch.Tensor:
        """One stream's own logits without running the others: a part name (needs crops) or "pose" (skeleton)."""
        if name == "pose":
            if skeleton is None:
                raise ValueError("forward_stream('pose') needs the skeleton")
            return self.pose(pose_sequence(skeleton, self.config.pose_steps, pose_offsets))[1]
        if name not in PART_NAMES:
            raise ValueError(f"unknown stream {name!r}; expected one of {PART_NAMES + ('pose',)}")
        if crops is None:
            raise ValueError(f"forward_stream({name!r}) needs the part crops (B, 3, 3, T, h, w)")
        return self.parts[name](crops[:, PART_NAMES.index(name)])[1]

    def regularized_weights(self, scope: str | None = None) -> list[nn.Parameter]:
        """Trainable connection weights W_uv of eq. 5 (conv, linear, LSTM matrices; not biases or batch-norm)
        within `scope` (default: config.lambda_weights_scope): "all" sub-networks, "fusion" (the attention network
        and the fused classifier, the layers Algorithm 1 adds on the pretrained networks) or "attention" (W_h, W_s).
        """
        scope = self.config.lambda_weights_scope if scope is None else scope
        prefixes = {"all": ("",), "fusion": ("attention.", "classifier."), "attention": ("attention.",)}
        if scope not in prefixes:
            raise ValueError(f"unknown lambda_weights_scope {scope!r}; expected one of {sorted(prefixes)}")
        return [p for n, p in self.named_parameters()
                if p.requires_grad and p.dim() >= 2 and "bias" not in n and n.startswith(prefixes[scope])]

    def _check_inputs(self, crops: torch.Tensor, skeleton: torch.Tensor) -> None:
        c = self.config
        if crops.dim() != 6 or crops.shape[1] != len(PART_NAMES) or crops.shape[2] != 3:
            raise ValueError(f"crops must be (B, {len(PART_NAMES)} parts, 3, T, h, w), got {tuple(crops.shape)}")
        expected = (c.persons, c.joints, 3)
        if skeleton.dim() != 5 or tuple(skeleton.shape[i] for i in (1, 3, 4)) != expected:
            raise ValueError(f"skeleton must be (B, {c.persons}, T, {c.joints}, 3), got {tuple(skeleton.shape)}")
        if crops.shape[0] != skeleton.shape[0]:
            raise ValueError(f"batch sizes differ: crops {crops.shape[0]}, skeleton {skeleton.shape[0]}")


def build_das_attention(config: DasAttentionConfig, num_classes: int) -> DasAttentionNet:
    return DasAttentionNet(config, num_classes)


def configure_stage(model: DasAttentionNet, stage: str) -> DasAttentionNet:
    """Freeze/unfreeze sub-networks (har.models.layers.train_only) for one training stage of Algorithm 1.

    parts: the three part networks with their heads; pose: the LSTM with its head; attention: W_h, W_s and the
    fused classifier; finetune: part trunks + attention + classifier (pose LSTM and part heads frozen);
    part_heads (after fine-tuning, not in Algorithm 1): the three part classifiers alone, refitted on the
    fine-tuned trunks so that each part's own accuracy is measured with a head that fits its final trunk.
    """
    trainable = {"parts": {"parts"}, "pose": {"pose"}, "attention": {"attention", "classifier"},
                 "finetune": {"parts", "attention", "classifier"},
                 "part_heads": {f"parts.{name}.head" for name in PART_NAMES}}
    if stage not in trainable:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    # finetune: eq. 5 has no per-part CE, so the part heads would only shrink under the weight term: frozen
    heads = [f"parts.{name}.head" for name in model.parts] if stage == "finetune" else []
    train_only(model, sorted(trainable[stage]), heads)
    return model


def attention_penalty(alpha: torch.Tensor) -> torch.Tensor:
    """Eq. 5's attention regulariser Σ_k (1 − α_k)², averaged over the batch: alpha (B, K) → scalar.

    With Σ_k α_k = 1 it is smallest at α_k = 1/K (its gradient vanishes there): it pulls the attention back
    towards every part, so that none is ignored.
    """
    return (1.0 - alpha).pow(2).sum(dim=1).mean()


def loss(outputs: dict[str, torch.Tensor], target: torch.Tensor, config: DasAttentionConfig,
         model: DasAttentionNet) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 5 per sample, averaged over the batch like the CE: CE + λ1·Σ_k (1 − α_k)² + λ2·Σ_W ||W||².

    The weight term is the usual squared L2 (Keras `l2`, the paper's framework) over the trainable connection
    matrices "connecting layers u and v" in `config.lambda_weights_scope` (`model.regularized_weights`); frozen
    weights are constant during a stage and are left out. Returns (total, detached terms for logging):
    "cross_entropy", "attention_penalty" and "weight_penalty" (unweighted) and "attention_term" = λ1·penalty,
    "weight_term" = λ2·penalty (cross_entropy + attention_term + weight_term = total).
    """
    cross_entropy = F.cross_entropy(outputs["logits"], target)
    attention_term = attention_penalty(outputs["attention"])
    weights = model.regularized_weights(config.lambda_weights_scope)
    weight_penalty = sum((w.pow(2).sum() for w in weights), cross_entropy.new_zeros(()))
    total = cross_entropy + config.lambda_attention * attention_term + config.lambda_weights * weight_penalty
    parts = {"cross_entropy": cross_entropy.detach(), "attention_penalty": attention_term.detach(),
             "weight_penalty": weight_penalty.detach(),
             "attention_term": config.lambda_attention * attention_term.detach(),
             "weight_term": config.lambda_weights * weight_penalty.detach()}
    return total, parts


def clip_window_starts(total_frames: int, clip_frames: int, views: int) -> list[int]:
    """Evenly spaced starts of `views` clip windows over `total_frames` (all 0 when the clip is the whole track)."""
    if total_frames < clip_frames:
        raise ValueError(f"crop track has {total_frames} frames, fewer than the clip length {clip_frames}")
    if views == 1:
        return [(total_frames - clip_frames) // 2]
    return [round(j * (total_frames - clip_frames) / (views - 1)) for j in range(views)]


@torch.no_grad()
def predict_test_views(model: DasAttentionNet, crops: torch.Tensor, skeleton: torch.Tensor,
                       views: int | None = None) -> dict[str, torch.Tensor]:
    """Test-time prediction: mean of every output over `views` sub-sequences (paper: 5).

    View j takes the LSTM frame at relative position (j + 0.5)/views inside each skeleton segment and the crop
    window j of `clip_window_starts` (crops (B, 3, 3, T_total, h, w) with T_total ≥ config.clip_frames + views − 1,
    so that the views' crop windows are distinct: the part_crops store must hold more frames than one window).
    """
    if model.training:
        raise ValueError("predict_test_views needs model.eval(): dropout would make the views random")
    views = model.config.test_views if views is None else views
    starts = clip_window_starts(crops.shape[3], model.config.clip_frames, views)
    if len(set(starts)) < len(starts):
        raise ValueError(f"{views} test views need distinct crop windows: a crop track of {crops.shape[3]} frames "
                         f"has only {crops.shape[3] - model.config.clip_frames + 1} windows of "
                         f"{model.config.clip_frames} frames")
    summed: dict[str, torch.Tensor] = {}
    for j, start in enumerate(starts):
        window = crops[:, :, :, start:start + model.config.clip_frames]
        outputs = model(window, skeleton, pose_offsets=(j + 0.5) / views)
        for key, value in outputs.items():
            summed[key] = summed[key] + value if key in summed else value
    return {key: value / views for key, value in summed.items()}
