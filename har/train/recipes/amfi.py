"""Training recipe of AMFI-Net (har.models.amfi_net), as the paper's Algorithm 1.

1. pretrain the RGB stream (ResNet3D-18) alone, keeping its best epoch on the validation split;
2. pretrain the skeleton stream (2s-AGCN: joint + bone, each with its own cross-entropy) likewise;
3. phase `fuse`: freeze both streams in eval mode and train the fusion module on L_total = CE + lambda * L_gate
   (6 epochs, SGD lr 0.01 divided by 10 at epoch 3).
The fusion scheme (average, multiply, max, concatenate, amfi) is `model.fusion`, so the paper's fusion ablation
runs with `dvc exp run -S train_amfi.model.fusion=max`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from har.models.amfi_net import (
    AmfiNetConfig,
    build_amfi_net,
    gate_per_class,
    gate_statistics,
    gate_summary,
    set_stage,
    stream_loss,
)
from har.models.amfi_net import loss as amfi_loss
from har.train.inputs import StoreFacts, channels_first_clip, min_max, resize_clip, rotate_flip_scale
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, fit
from har.train.recipes.glimpse import SkeletonAugment, check_skeleton_store
from har.train.spec import ModelSpec, TrainBase
from har.transforms.augment import augment_skeleton


@dataclass(frozen=True)
class ClipAugment:
    rotate: bool = True  # rotation by 90, 180 or 270 degrees
    flip: bool = True  # horizontal and vertical flips
    scale: float = 0.2  # random zoom up to 1 + scale


def _sgd(epochs: int, lr: float, milestones=(), patience: int = 0) -> PhaseConfig:
    return PhaseConfig(epochs=epochs, batch_size=16, patience=patience, optim=OptimConfig(
        optimizer="sgd", lr=lr, momentum=0.9, weight_decay=5e-4, schedule="step" if milestones else "cosine",
        milestones=tuple(milestones)))


@dataclass(frozen=True)
class AmfiTrain(TrainBase):
    model: AmfiNetConfig = field(default_factory=AmfiNetConfig)
    clip_augment: ClipAugment = field(default_factory=ClipAugment)
    skeleton_augment: SkeletonAugment = field(default_factory=SkeletonAugment)
    pretrain_rgb: PhaseConfig = field(default_factory=lambda: _sgd(12, 0.1))
    pretrain_skeleton: PhaseConfig = field(default_factory=lambda: _sgd(12, 0.1))
    fuse: PhaseConfig = field(default_factory=lambda: _sgd(6, 0.01, milestones=(3,)))  # trains model.fusion


def amfi_inputs(config: AmfiTrain, arrays: dict, rng: np.random.Generator | None) -> dict:
    """rgb_clips + skeleton sample -> {'rgb': (3, T, H, W) min-max scaled, 'skeleton': (M, T, V, 3)}."""
    aug = config.clip_augment
    clip = rotate_flip_scale(resize_clip(arrays["clips"], config.model.rgb_size), rng, aug.rotate, aug.flip,
                             aug.scale)
    skeleton = augment_skeleton(arrays["x"], rng, config.skeleton_augment.scale, config.skeleton_augment.jitter)
    return {"rgb": channels_first_clip(min_max(clip.astype(np.float32))), "skeleton": skeleton}


def bind_stores(config: AmfiTrain, stores: Mapping[str, Any]) -> AmfiTrain:
    """Check train_amfi.model against skeleton.zarr (persons, joints). Both streams pool over time, so the clip
    and skeleton lengths are the stores' own (video.clip_frames, skeletons.frames), not model keys."""
    facts, model = StoreFacts(stores), config.model
    check_skeleton_store(facts, "train_amfi.model", ("num_persons", model.num_persons),
                         ("num_joints", model.num_joints))
    return config


def _stream_phase(model, name: str, key: str, config: PhaseConfig) -> Phase:
    def forward(net, batch):
        return net.forward_stream(name, batch[key])

    def objective(outputs, target):
        total, parts = stream_loss(outputs, target, name)
        return total, {k: float(v) for k, v in parts.items()}

    return Phase(f"pretrain_{name}", config, list(getattr(model, name).parameters()), objective,
                 select_key=name, metric_keys=(name,), forward=forward, stream_modules=(name,))


def recipe(ctx: TrainContext, config: AmfiTrain) -> None:
    model = ctx.model
    set_stage(model, "rgb")
    fit(ctx, _stream_phase(model, "rgb", "rgb", config.pretrain_rgb))
    set_stage(model, "skeleton")
    fit(ctx, _stream_phase(model, "skeleton", "skeleton", config.pretrain_skeleton))
    set_stage(model, "fusion")

    def objective(outputs, target):
        total, parts = amfi_loss(outputs, target, config.model)
        return total, {k: float(v) for k, v in parts.items()}

    fit(ctx, Phase("fuse", config.fuse, list(model.fusion.parameters()), objective,
                   metric_keys=("logits", "rgb", "skeleton")))


def summarize(outputs: dict, classes: np.ndarray) -> dict:
    """Gate statistics over the test split: mean and variance of every Y' value (paper Sec. 4.3.5), the quantiles
    of the per-sample mean gate (`gate_quantiles`) and the same per true class (`gate_per_class`: n, mean, q05,
    q25, q50, q75, q95). Y' near 1 = the skeleton half of the fused feature, near 0 = the RGB half."""
    if "gate" not in outputs:
        return {}
    import torch
    stats = {k: round(v, 6) for k, v in gate_statistics(torch.from_numpy(outputs["gate"])).items()}
    names = [f"A{label + 1:03d}" for label in classes]
    per_class = gate_per_class(outputs["gate"], outputs["target"], names)
    overall = gate_summary(np.asarray(outputs["gate"], dtype=np.float64).reshape(len(outputs["target"]), -1)
                           .mean(axis=1))
    return {**stats, "gate_quantiles": {k: round(v, 6) for k, v in overall.items() if k != "n"},
            "gate_per_class": {name: {k: round(v, 6) for k, v in row.items()} for name, row in per_class.items()}}


SPEC = ModelSpec(
    name="amfi", paper="AMFI-Net: ResNet3D-18 + 2s-AGCN with non-local, SE and skeleton-confidence gate (2025)",
    inputs=("skeleton", "rgb_clips"), config_type=AmfiTrain, build=build_amfi_net, make_inputs=amfi_inputs,
    recipe=recipe, stream_keys=("rgb", "skeleton"), summarize=summarize, bind_stores=bind_stores,
    image_inputs=("rgb",),
    late_keys=("fuse", "model.fusion", "model.decision_modality", "model.nonlocal_positions",
               "model.nonlocal_reduction", "model.se_reduction", "model.fusion_dropout", "model.gate_lambda",
               "model.gate_loss"),
)
