"""Training recipe of the pose-attention model of Das et al. (har.models.das_attention): the paper's Algorithm 1.

1. pretrain the three part networks (left hand, right hand, full body I3Ds) on classification;
2. pretrain the 3-layer pose LSTM on classification;
3. initialise the attention scores equal (alpha = 1/3: the model is built so) and train the attention and the
   fused classifier with the LSTM and the parts frozen (eval mode);
4. fine-tune parts + attention + classifier (the LSTM stays frozen).
Loss of 3-4: CE + lambda1 * sum_k (1 - alpha_k)^2 + lambda2 * ||W||^2. Adam, lr 5e-4. At test the logits of 5
sub-sequences are averaged.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from har.models.das_attention import (
    PART_NAMES,
    DasAttentionConfig,
    build_das_attention,
    configure_stage,
    predict_test_views,
)
from har.models.das_attention import loss as das_loss
from har.train.inputs import PhotometricAugment, StoreFacts, channels_first_clip, photometric, standardize, to_unit
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, fit
from har.train.recipes.glimpse import SkeletonAugment, check_skeleton_store
from har.train.spec import ModelSpec, TrainBase
from har.transforms.augment import augment_skeleton


def _adam(epochs: int, lr: float = 5e-4, patience: int = 0) -> PhaseConfig:
    return PhaseConfig(epochs=epochs, batch_size=16, patience=patience, optim=OptimConfig(optimizer="adam", lr=lr))


@dataclass(frozen=True)
class DasTrain(TrainBase):
    model: DasAttentionConfig = field(default_factory=DasAttentionConfig)
    photometric: PhotometricAugment = field(default_factory=PhotometricAugment)
    skeleton_augment: SkeletonAugment = field(default_factory=SkeletonAugment)
    pretrain_parts: PhaseConfig = field(default_factory=lambda: _adam(10, 1e-3))
    pretrain_pose: PhaseConfig = field(default_factory=lambda: _adam(20, 1e-3))
    attention: PhaseConfig = field(default_factory=lambda: _adam(6))
    finetune: PhaseConfig = field(default_factory=lambda: _adam(4))


def das_inputs(config: DasTrain, arrays: dict, rng: np.random.Generator | None) -> dict:
    """part_crops + skeleton sample -> {'crops': (3 parts, 3, T, h, w), 'skeleton': (M, T', V, 3)}."""
    crops = photometric(to_unit(arrays["crops"]), rng, config.photometric)  # (P, T, h, w, 3)
    crops = np.stack([channels_first_clip(standardize(part)) for part in crops])
    skeleton = augment_skeleton(arrays["x"], rng, config.skeleton_augment.scale, config.skeleton_augment.jitter)
    return {"crops": crops, "skeleton": skeleton}


def bind_stores(config: DasTrain, stores: Mapping[str, Any]) -> DasTrain:
    """Check train_das.model against skeleton.zarr (persons, joints) and part_crops.zarr (crop size; the test-time
    clip windows need at most as many frames as the stored crop track)."""
    facts, model = StoreFacts(stores), config.model
    check_skeleton_store(facts, "train_das.model", ("persons", model.persons), ("joints", model.joints))
    facts.require("train_das.model.clip_frames", model.clip_frames, "part_crops", "frames", "video.clip_frames",
                  at_most=True)
    facts.require("train_das.model.crop_size", model.crop_size, "part_crops", "size", "video.crop_size")
    return config


def _pose_offsets(model, batch):
    """Random frame within each LSTM segment in training (reproducible: fit seeds torch per epoch)."""
    steps = model.config.pose_steps
    return torch.rand(batch["skeleton"].shape[0], steps, device=batch["skeleton"].device) if model.training else 0.5


def _parts_forward(model, batch):
    outputs = {name: model.forward_stream(name, crops=batch["crops"]) for name in PART_NAMES}
    outputs["logits"] = sum(outputs.values())
    return outputs


def _parts_loss(outputs, target):
    terms = {name: torch.nn.functional.cross_entropy(outputs[name], target) for name in PART_NAMES}
    return sum(terms.values()), {k: float(v.detach()) for k, v in terms.items()}


def _pose_forward(model, batch):
    return {"logits": model.forward_stream("pose", skeleton=batch["skeleton"],
                                           pose_offsets=_pose_offsets(model, batch))}


def _full_forward(model, batch):
    return model(batch["crops"], batch["skeleton"], pose_offsets=_pose_offsets(model, batch))


def recipe(ctx: TrainContext, config: DasTrain) -> None:
    model = ctx.model
    ce = _parts_loss
    configure_stage(model, "parts")
    fit(ctx, Phase("pretrain_parts", config.pretrain_parts, list(model.parts.parameters()), ce,
                   metric_keys=("logits", *PART_NAMES), forward=_parts_forward, stream_modules=("parts",)))
    configure_stage(model, "pose")
    fit(ctx, Phase("pretrain_pose", config.pretrain_pose, list(model.pose.parameters()),
                   lambda out, target: (torch.nn.functional.cross_entropy(out["logits"], target), {}),
                   forward=_pose_forward, stream_modules=("pose",)))

    def objective(outputs, target):
        total, parts = das_loss(outputs, target, config.model, model)
        return total, {k: float(v) for k, v in parts.items()}

    for stage, phase_config in (("attention", config.attention), ("finetune", config.finetune)):
        configure_stage(model, stage)
        trainable = [p for p in model.parameters() if p.requires_grad]
        fit(ctx, Phase(stage, phase_config, trainable, objective, forward=_full_forward,
                       metric_keys=("logits", *PART_NAMES, "pose")))


def predict(model, batch):
    """Paper's test protocol: the mean over 5 sub-sequences of every output."""
    return predict_test_views(model, batch["crops"], batch["skeleton"])


def summarize(outputs: dict, classes: np.ndarray) -> dict:
    """Mean attention per class: which body part the model looks at for each action."""
    alpha, target = outputs["attention"], outputs["target"]
    per_class = {f"A{label + 1:03d}": dict(zip(PART_NAMES, np.round(alpha[target == k].mean(axis=0), 4).tolist()))
                 for k, label in enumerate(classes) if np.any(target == k)}
    spread = float(np.std([list(v.values()) for v in per_class.values()], axis=0).mean()) if per_class else 0.0
    return {"attention_per_class": per_class, "attention_class_spread": round(spread, 4)}


def write_plots(outputs: dict, classes: np.ndarray, live) -> None:
    """Mean attention per class and part as the dvclive custom plot `attention` (plots/custom/attention.json:
    rows {class, part, attention}) for a DVC bar plot."""
    rows = summarize(outputs, classes)["attention_per_class"]
    live.log_plot("attention", [{"class": label, "part": part, "attention": value}
                                for label, parts in rows.items() for part, value in parts.items()],
                  x="attention", y="class", template="bar_horizontal", title="mean part attention per class (das)")


SPEC = ModelSpec(
    name="das", paper="Das et al., Where to focus on for human action recognition? (WACV 2019)",
    inputs=("skeleton", "part_crops"), config_type=DasTrain, build=build_das_attention, make_inputs=das_inputs,
    recipe=recipe, stream_keys=(*PART_NAMES, "pose"), predict=predict, summarize=summarize,
    write_plots=write_plots, bind_stores=bind_stores,
    late_keys=("attention", "finetune", "model.lambda_attention", "model.lambda_weights", "model.test_views",
               "model.attention_hidden"),
)
