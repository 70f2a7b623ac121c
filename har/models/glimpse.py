"""Skeleton BiLSTM with soft attention over joints and time.

Paper: D. Jhansi, P. B. Naidu, "Multi-modal attention-based human activity recognition using dynamic glimpses and
skeleton fusion for real-time applications", Industrial Engineering Journal 54(6), 2025 — a skeleton-only
re-implementation of the glimpse model of Xu et al. (IEEE TIP 2021): joint (spatial) attention on every frame,
a multi-layer bidirectional LSTM, soft temporal attention (a 1x(2H) scoring layer), and a fully connected
classifier; T = 32 frames, 2 persons x 25 joints x 3 coordinates per frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class GlimpseConfig:
    hidden: int = 64  # per direction; the paper's attention scorer is 1 x 128, so 2 x 64
    layers: int = 2
    joint_attention_hidden: int = 64
    dropout: float = 0.3
    persons: int = 2
    joints: int = 25
    channels: int = 3

    @classmethod
    def paper(cls) -> GlimpseConfig:
        return cls()


class JointAttention(nn.Module):
    """Per-frame soft attention over joints: weights (B, T, V) summing to V (mean 1), shared by all persons."""

    def __init__(self, in_features: int, joints: int, hidden: int):
        super().__init__()
        self.joints = joints
        self.score = nn.Sequential(nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, joints))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.score(frames), dim=-1) * self.joints


class GlimpseNet(nn.Module):
    def __init__(self, config: GlimpseConfig, num_classes: int):
        super().__init__()
        self.config = config
        features = config.persons * config.joints * config.channels
        self.joint_attention = JointAttention(features, config.joints, config.joint_attention_hidden)
        self.lstm = nn.LSTM(features, config.hidden, num_layers=config.layers, batch_first=True,
                            bidirectional=True, dropout=config.dropout if config.layers > 1 else 0.0)
        self.temporal_score = nn.Linear(2 * config.hidden, 1)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.hidden, num_classes)

    def forward(self, x: torch.Tensor, length: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x: (B, M, T, V, C) float32 zero-padded; length: (B,) valid frames (None = all T)."""
        b, m, t, v, c = x.shape
        frames = x.permute(0, 2, 1, 3, 4)  # (B, T, M, V, C)
        joint_weights = self.joint_attention(frames.reshape(b, t, -1))  # (B, T, V)
        attended = frames * joint_weights[:, :, None, :, None]
        hidden, _ = self.lstm(attended.reshape(b, t, -1))  # (B, T, 2H)
        scores = self.temporal_score(hidden).squeeze(-1)  # (B, T)
        if length is not None:
            valid = torch.arange(t, device=x.device)[None, :] < length.clamp(min=1)[:, None]
            scores = scores.masked_fill(~valid, float("-inf"))
        time_weights = torch.softmax(scores, dim=1)
        context = (hidden * time_weights[..., None]).sum(dim=1)
        logits = self.classifier(self.dropout(context))
        return {"logits": logits, "joint_attention": joint_weights, "time_attention": time_weights}


def build_glimpse(config: GlimpseConfig, num_classes: int) -> GlimpseNet:
    return GlimpseNet(config, num_classes)
