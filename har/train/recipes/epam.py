"""Training recipe of EPAM-Net (har.models.epam_net): staged as the paper.

1. pretrain the Pose-X3D stream alone on heatmaps (cross-entropy of its head);
2. pretrain the RGB-X3D stream alone on person-centric clips;
3. fine-tune the whole network with the pose-driven attention: loss = CE(rgb head) + CE(pose head).
SGD with momentum 0.9 and a cosine schedule in every phase. At test the two heads' scores are fused.
Training heatmaps are rendered from one random frame per bin (PoseC3D sampling); evaluation uses the stored ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from har.models.epam_net import EpamNetConfig, build_epam_net, loss as epam_loss
from har.train.inputs import (PhotometricAugment, channels_first_clip, photometric, pose_heatmaps, resize_clip,
                              standardize, to_unit)
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, cross_entropy_on, fit
from har.train.spec import ModelSpec, TrainBase


def _sgd(epochs: int, lr: float, patience: int = 0, batch_size: int = 16) -> PhaseConfig:
    return PhaseConfig(epochs=epochs, batch_size=batch_size, patience=patience, optim=OptimConfig(
        optimizer="sgd", lr=lr, momentum=0.9, weight_decay=1e-4, schedule="cosine", warmup_epochs=1))


@dataclass(frozen=True)
class EpamTrain(TrainBase):
    model: EpamNetConfig = field(default_factory=EpamNetConfig)
    photometric: PhotometricAugment = field(default_factory=PhotometricAugment)
    heatmap_sigma: float = 0.6  # must match the heatmaps stage (training heatmaps are rendered on the fly)
    heatmap_limbs: bool = False
    pretrain_pose: PhaseConfig = field(default_factory=lambda: _sgd(8, 0.05))
    pretrain_rgb: PhaseConfig = field(default_factory=lambda: _sgd(8, 0.05))
    finetune: PhaseConfig = field(default_factory=lambda: _sgd(4, 0.01))


def epam_inputs(config: EpamTrain, arrays: dict, rng: np.random.Generator | None) -> dict:
    """rgb_clips + heatmaps sample -> {'rgb': (3, T, H, W), 'heatmaps': (K, T', h, w)} float32."""
    clip = photometric(to_unit(resize_clip(arrays["clips"], config.model.rgb_size)), rng, config.photometric)
    heatmaps = pose_heatmaps(arrays, rng, config.model.pose_frames, config.heatmap_sigma, config.heatmap_limbs)
    return {"rgb": channels_first_clip(standardize(clip)), "heatmaps": heatmaps}


def _stream(name: str, key: str):
    def forward(model, batch):
        return model.forward_stream(name, batch[key])
    return forward


def _full_loss(outputs, target):
    total, parts = epam_loss(outputs, target)
    return total, {k: float(v.detach()) for k, v in parts.items()}


def recipe(ctx: TrainContext, config: EpamTrain) -> None:
    model = ctx.model
    fit(ctx, Phase("pretrain_pose", config.pretrain_pose, list(model.pose.parameters()), cross_entropy_on(),
                   forward=_stream("pose", "heatmaps")))
    fit(ctx, Phase("pretrain_rgb", config.pretrain_rgb, list(model.rgb.parameters()), cross_entropy_on(),
                   forward=_stream("rgb", "rgb")))
    fit(ctx, Phase("finetune", config.finetune, list(model.parameters()), _full_loss,
                   metric_keys=("logits", "rgb", "pose")))


SPEC = ModelSpec(
    name="epam", paper="EPAM-Net: efficient pose-driven attention-guided multimodal network (X3D)",
    inputs=("rgb_clips", "heatmaps"), config_type=EpamTrain, build=build_epam_net, make_inputs=epam_inputs,
    recipe=recipe, stream_keys=("rgb", "pose"),
)
