"""Training recipe of the pose-attention model of Das et al. (har.models.das_attention): the paper's Algorithm 1.

1. pretrain the three part networks (left hand, right hand, full body I3Ds) on classification;
2. pretrain the 3-layer pose LSTM on classification;
3. initialise the attention scores equal (alpha = 1/3: the model is built so) and train the attention and the
   fused classifier with the LSTM and the parts frozen (eval mode);
4. fine-tune parts + attention + classifier (the LSTM stays frozen);
5. (ours, for the metrics) refit the three part classifiers on the fine-tuned, frozen trunks (`part_heads`), so the
   per-part accuracies are those of the final trunks; the fused output does not read these heads.
Loss of 3-4: CE + lambda1 * sum_k (1 - alpha_k)^2 + lambda2 * ||W||^2 (W: `model.lambda_weights_scope`); each
term's batch mean is logged per epoch (`<phase>/train/cross_entropy`, `.../attention_term`, `.../weight_term`).
Adam, lr 5e-4. Part crops: a random window of `model.clip_frames` frames of the stored crop track in training
(temporal jitter), the centre window in validation, and at test the logits of 5 sub-sequences (5 distinct windows)
are averaged. `init_checkpoint` starts the three I3D trunks from a pytorch-i3d file (rgb_imagenet.pt).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from har.config import ConfigError
from har.models.backbones.i3d import load_pytorch_i3d
from har.models.das_attention import (
    PART_NAMES,
    DasAttentionConfig,
    build_das_attention,
    clip_window_starts,
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
    # Refit of the part classifiers on the final trunks (trunks frozen), for the per-part metrics only
    part_heads: PhaseConfig = field(default_factory=lambda: _adam(2, 1e-3))
    # A pytorch-i3d state dict (e.g. rgb_imagenet.pt) loaded into the three I3D trunks before training ("" = none);
    # needs the published I3D (model.i3d_width 1.0, i3d_stem_kernel [7, 7, 7])
    init_checkpoint: str = ""


def crop_window(crops: np.ndarray, frames: int, rng: np.random.Generator | None) -> np.ndarray:
    """(P, T, h, w, 3) crop track -> (P, frames, h, w, 3): a random window in training (rng given), else the whole
    track (evaluation: the test views cut their own windows, validation the centre one)."""
    if crops.shape[1] < frames:
        raise ValueError(f"crop track has {crops.shape[1]} frames, fewer than the window of {frames}")
    if rng is None:
        return crops
    start = int(rng.integers(0, crops.shape[1] - frames + 1))
    return crops[:, start:start + frames]


def das_inputs(config: DasTrain, arrays: dict, rng: np.random.Generator | None) -> dict:
    """part_crops + skeleton sample -> {'crops': (3 parts, 3, T, h, w), 'skeleton': (M, T', V, 3)}; T =
    model.clip_frames in training (a random window), the stored track length otherwise."""
    crops = crop_window(arrays["crops"], config.model.clip_frames, rng)
    crops = photometric(to_unit(crops), rng, config.photometric)  # (P, T, h, w, 3)
    crops = np.stack([channels_first_clip(standardize(part)) for part in crops])
    skeleton = augment_skeleton(arrays["x"], rng, config.skeleton_augment.scale, config.skeleton_augment.jitter)
    return {"crops": crops, "skeleton": skeleton}


def bind_stores(config: DasTrain, stores: Mapping[str, Any]) -> DasTrain:
    """Check train_das.model against skeleton.zarr (persons, joints) and part_crops.zarr: the stored crop track
    must hold test_views distinct windows of clip_frames frames (and so training has room for temporal jitter)."""
    facts, model = StoreFacts(stores), config.model
    check_skeleton_store(facts, "train_das.model", ("persons", model.persons), ("joints", model.joints))
    stored = int(facts.get("part_crops", "frames", "video.clip_frames"))
    needed = model.clip_frames + max(model.test_views, 1) - 1
    if stored < needed:
        raise ConfigError(f"train_das.model.clip_frames={model.clip_frames} with test_views={model.test_views} "
                          f"needs a crop track of at least {needed} frames (distinct test windows), but "
                          f"part_crops.zarr was built with video.clip_frames={stored}: lower the first or raise "
                          f"the second, then rerun (dvc repro)")
    return config


def _window(model, crops: torch.Tensor) -> torch.Tensor:
    """Evaluation-time crops (B, P, 3, T_total, h, w) -> the centre window of model.config.clip_frames frames
    (training batches already hold one window)."""
    frames = model.config.clip_frames
    if model.training or crops.shape[3] == frames:
        return crops
    start = clip_window_starts(crops.shape[3], frames, 1)[0]
    return crops[:, :, :, start:start + frames]


def _pose_offsets(model, batch):
    """Random frame within each LSTM segment in training (reproducible: fit seeds torch per epoch)."""
    steps = model.config.pose_steps
    return torch.rand(batch["skeleton"].shape[0], steps, device=batch["skeleton"].device) if model.training else 0.5


def _parts_forward(model, batch):
    crops = _window(model, batch["crops"])
    outputs = {name: model.forward_stream(name, crops=crops) for name in PART_NAMES}
    outputs["logits"] = sum(outputs.values())
    return outputs


def _parts_loss(outputs, target):
    terms = {f"ce_{name}": torch.nn.functional.cross_entropy(outputs[name], target) for name in PART_NAMES}
    return sum(terms.values()), {k: float(v.detach()) for k, v in terms.items()}


def _pose_forward(model, batch):
    return {"logits": model.forward_stream("pose", skeleton=batch["skeleton"],
                                           pose_offsets=_pose_offsets(model, batch))}


def _full_forward(model, batch):
    return model(_window(model, batch["crops"]), batch["skeleton"], pose_offsets=_pose_offsets(model, batch))


def load_init_checkpoint(model, config: DasTrain) -> dict:
    """Load `config.init_checkpoint` (pytorch-i3d layout) into each part's I3D trunk (and its head when the file's
    class count is the model's). Returns {"loaded": tensors per trunk, "skipped": keys not loaded}."""
    if config.model.i3d_width != 1.0 or tuple(config.model.i3d_stem_kernel) != (7, 7, 7):
        raise ConfigError(f"train_das.init_checkpoint={config.init_checkpoint!r} holds the published I3D: set "
                          f"train_das.model.i3d_width to 1.0 (is {config.model.i3d_width}) and i3d_stem_kernel to "
                          f"[7, 7, 7] (is {list(config.model.i3d_stem_kernel)})")
    trunks = [(model.parts[name].backbone, model.parts[name].head[-1]) for name in PART_NAMES]
    return load_pytorch_i3d(trunks, config.init_checkpoint, "train_das.init_checkpoint")


def recipe(ctx: TrainContext, config: DasTrain) -> None:
    model = ctx.model
    ce = _parts_loss
    if config.init_checkpoint:
        load_init_checkpoint(model, config)
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
    configure_stage(model, "part_heads")
    heads = [p for p in model.parameters() if p.requires_grad]
    fit(ctx, Phase("part_heads", config.part_heads, heads, ce, metric_keys=("logits", *PART_NAMES),
                   forward=_parts_forward))


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
    late_keys=("attention", "finetune", "part_heads", "model.lambda_attention", "model.lambda_weights",
               "model.lambda_weights_scope", "model.test_views", "model.attention_hidden"),
)
