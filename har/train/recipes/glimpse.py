"""Training recipe of the skeleton BiLSTM-attention model (har.models.glimpse).

As the paper: cross-entropy, Adam lr 1e-3, batch 60, jitter/scale augmentation, early stopping on validation
accuracy (a validation split carved from the training subjects).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from har.models.glimpse import GlimpseConfig, build_glimpse
from har.train.inputs import StoreFacts
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, cross_entropy_on, fit
from har.train.spec import ModelSpec, TrainBase
from har.transforms.augment import augment_skeleton


@dataclass(frozen=True)
class SkeletonAugment:
    scale: float = 0.1  # per-axis scale factor drawn from U(1 - scale, 1 + scale)
    jitter: float = 0.01  # std of Gaussian noise on present joints (metres)


@dataclass(frozen=True)
class GlimpseTrain(TrainBase):
    model: GlimpseConfig = field(default_factory=GlimpseConfig)
    augment: SkeletonAugment = field(default_factory=SkeletonAugment)
    fit: PhaseConfig = field(default_factory=lambda: PhaseConfig(
        epochs=60, batch_size=60, optim=OptimConfig(optimizer="adam", lr=1e-3), patience=10))


def skeleton_inputs(config, arrays: dict, rng: np.random.Generator | None) -> dict:
    """skeleton.zarr sample -> {'x': (M, T, V, 3) float32, 'length': int64}."""
    x = augment_skeleton(arrays["x"], rng, config.augment.scale, config.augment.jitter)
    return {"x": x, "length": np.int64(arrays["length"])}


def check_skeleton_store(facts: StoreFacts, section: str, persons: tuple[str, int], joints: tuple[str, int],
                         frames: tuple[str, int] | None = None) -> None:
    """A skeleton model's (key, value) persons, joints and frames against skeleton.zarr's attrs."""
    facts.require(f"{section}.{persons[0]}", persons[1], "skeleton", "persons", "denoise.max_actors")
    facts.require(f"{section}.{joints[0]}", joints[1], "skeleton", "joints", "ingest.source's joint count")
    if frames is not None:
        facts.require(f"{section}.{frames[0]}", frames[1], "skeleton", "frames", "skeletons.frames")


def bind_stores(config: GlimpseTrain, stores: Mapping[str, Any]) -> GlimpseTrain:
    """Check train_glimpse.model against skeleton.zarr (persons, joints)."""
    check_skeleton_store(StoreFacts(stores), "train_glimpse.model", ("persons", config.model.persons),
                         ("joints", config.model.joints))
    return config


def recipe(ctx: TrainContext, config: GlimpseTrain) -> None:
    params = [p for p in ctx.model.parameters() if p.requires_grad]
    fit(ctx, Phase("train", config.fit, params, cross_entropy_on("logits")))


SPEC = ModelSpec(
    name="glimpse", paper="Jhansi & Naidu 2025, skeleton BiLSTM with glimpse attention",
    inputs=("skeleton",), config_type=GlimpseTrain, build=build_glimpse, make_inputs=skeleton_inputs,
    recipe=recipe, bind_stores=bind_stores,
)
