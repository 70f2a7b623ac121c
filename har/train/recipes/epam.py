"""Training recipe of EPAM-Net (har.models.epam_net): staged as the paper.

1. pretrain the Pose-X3D stream alone on heatmaps (cross-entropy of its head);
2. pretrain the RGB-X3D stream alone on person-centric clips;
3. fine-tune the whole network with the pose-driven attention: loss = CE(rgb head) + CE(pose head).
SGD with momentum 0.9 and a cosine schedule in every phase. At test the two heads' scores are fused.
Training heatmaps are rendered from one random frame per bin (PoseC3D sampling) with the sigma and limbs recorded
in heatmaps.zarr (bind_stores, at stage start); evaluation uses the stored ones. bind_stores also checks that the
model's frame counts, sizes and channels match the stores, and that the clips and heatmaps share one pose view.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from har.config import ConfigError
from har.models.epam_net import EpamNetConfig, build_epam_net
from har.models.epam_net import loss as epam_loss
from har.train.inputs import (
    HeatmapRendering,
    PhotometricAugment,
    StoreFacts,
    channels_first_clip,
    photometric,
    pose_heatmaps,
    resize_clip,
    standardize,
    to_unit,
)
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, cross_entropy_on, fit
from har.train.spec import ModelSpec, TrainBase


def _sgd(epochs: int, lr: float, patience: int = 0, batch_size: int = 16) -> PhaseConfig:
    return PhaseConfig(epochs=epochs, batch_size=batch_size, patience=patience, optim=OptimConfig(
        optimizer="sgd", lr=lr, momentum=0.9, weight_decay=1e-4, schedule="cosine", warmup_epochs=1))


@dataclass(frozen=True)
class EpamTrain(TrainBase):
    model: EpamNetConfig = field(default_factory=EpamNetConfig)
    photometric: PhotometricAugment = field(default_factory=PhotometricAugment)
    pretrain_pose: PhaseConfig = field(default_factory=lambda: _sgd(8, 0.05))
    pretrain_rgb: PhaseConfig = field(default_factory=lambda: _sgd(8, 0.05))
    finetune: PhaseConfig = field(default_factory=lambda: _sgd(4, 0.01))
    # Not a params key: read from heatmaps.zarr's attrs by bind_stores at stage start.
    heatmaps: HeatmapRendering | None = field(default=None, metadata={
        "params": False, "why": "EPAM renders its training heatmaps with the sigma and limbs recorded in "
                                "heatmaps.zarr (set heatmaps.sigma / heatmaps.limbs and rebuild the store)"})

    moved_keys: ClassVar[dict[str, str]] = {
        "heatmap_sigma": "training heatmaps are rendered with the sigma recorded in heatmaps.zarr (set it with "
                         "heatmaps.sigma)",
        "heatmap_limbs": "training heatmaps are rendered with the limbs setting recorded in heatmaps.zarr (set it "
                         "with heatmaps.limbs)",
    }


def epam_inputs(config: EpamTrain, arrays: dict, rng: np.random.Generator | None) -> dict:
    """rgb_clips + heatmaps sample -> {'rgb': (3, T, H, W), 'heatmaps': (K, T', h, w)} float32."""
    clip = photometric(to_unit(resize_clip(arrays["clips"], config.model.rgb_size)), rng, config.photometric)
    heatmaps = pose_heatmaps(arrays, rng, config.model.pose_frames, config.heatmaps)
    return {"rgb": channels_first_clip(standardize(clip)), "heatmaps": heatmaps}


def bind_stores(config: EpamTrain, stores: Mapping[str, Any]) -> EpamTrain:
    """Check train_epam.model against rgb_clips.zarr and heatmaps.zarr and bind the heatmaps' rendering."""
    facts, key = StoreFacts(stores), "train_epam.model"
    model = config.model
    facts.require(f"{key}.pose_frames", model.pose_frames, "heatmaps", "frames", "poses.frames")
    facts.require(f"{key}.pose_size", model.pose_size, "heatmaps", "size", "heatmaps.size")
    channels = facts.get("heatmaps", "channels", "heatmaps.limbs")
    if model.pose.in_channels != channels:
        raise ConfigError(f"{key}.pose.in_channels={model.pose.in_channels} but heatmaps.zarr has {channels} "
                          f"channels (built with heatmaps.limbs={facts.get('heatmaps', 'limbs', 'heatmaps.limbs')}"
                          f"): change one of the two keys so they agree, then rerun (dvc repro)")
    facts.require(f"{key}.rgb_frames", model.rgb_frames, "rgb_clips", "frames", "video.clip_frames")
    # The clip is cut at every (pose_frames // rgb_frames)-th pose frame of the same pose view: both stores must
    # come from the same `poses` and `denoise` settings for the pose-driven attention to look at the right pixels.
    for attr, producer_key in (("pose_frames", "poses.frames"), ("box_padding", "poses.box_padding"),
                               ("denoise", "denoise")):
        facts.require_same(attr, producer_key, "rgb_clips", "heatmaps")
    return dataclasses.replace(config, heatmaps=HeatmapRendering.of_store(facts))


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
    recipe=recipe, stream_keys=("rgb", "pose"), bind_stores=bind_stores, image_inputs=("rgb", "heatmaps"),
)
