"""Training recipe of the skeleton-driven ST-ROI model (har.models.stroi_net).

1. train the ST-GCN alone on the skeleton;
2. freeze it (eval mode: its batch-norm statistics cannot drift) and train the ResNet-18 on the ST-ROI mosaic
   weighted by the GCN's per-sample joint weights;
3. optionally (the paper's Table I fine-tuned variant, `finetune.epochs > 0`) train both together.
SGD lr 0.1 divided by 10 at epochs 45 and 55, 65 epochs in the paper (scaled down by parameters for the CPU).
Checkpoints are selected on the validation split carved from the training subjects, never on the test split.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from har.models.backbones.resnet2d import load_torchvision_resnet18
from har.models.layers import train_only
from har.models.stroi_net import STROINetConfig, build_stroi_net, stream_term
from har.models.stroi_net import loss as stroi_loss
from har.train.inputs import PhotometricAugment, photometric, standardize, to_unit
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, fit
from har.train.recipes.glimpse import SkeletonAugment
from har.train.spec import ModelSpec, TrainBase
from har.transforms.augment import augment_skeleton


def _sgd(epochs: int, milestones: tuple[int, ...], lr: float = 0.1) -> PhaseConfig:
    return PhaseConfig(epochs=epochs, batch_size=32, optim=OptimConfig(
        optimizer="sgd", lr=lr, momentum=0.9, weight_decay=1e-4, schedule="step", milestones=milestones))


@dataclass(frozen=True)
class StroiTrain(TrainBase):
    model: STROINetConfig = field(default_factory=STROINetConfig)
    photometric: PhotometricAugment = field(default_factory=PhotometricAugment)
    skeleton_augment: SkeletonAugment = field(default_factory=SkeletonAugment)
    gcn: PhaseConfig = field(default_factory=lambda: _sgd(20, (14, 17)))
    resnet: PhaseConfig = field(default_factory=lambda: _sgd(20, (14, 17)))
    finetune: PhaseConfig = field(default_factory=lambda: _sgd(0, (), lr=0.01))
    # A torchvision resnet18 state dict (ImageNet, e.g. resnet18-f37072fd.pth) loaded into the ResNet-18 before
    # training ("" = none); needs model.resnet_width 64 and resnet_depths [2, 2, 2, 2]
    init_checkpoint: str = ""


def stroi_inputs(config: StroiTrain, arrays: dict, rng: np.random.Generator | None) -> dict:
    """stroi + skeleton sample -> {'skeleton': (M, T, V, 3), 'stroi': (3, 5s, 5s)}."""
    mosaic = standardize(photometric(to_unit(arrays["mosaic"]), rng, config.photometric))
    skeleton = augment_skeleton(arrays["x"], rng, config.skeleton_augment.scale, config.skeleton_augment.jitter)
    return {"skeleton": skeleton, "stroi": np.ascontiguousarray(mosaic.transpose(2, 0, 1))}


def _gcn_forward(model, batch):
    return {"logits": model.forward_stream("skeleton", skeleton=batch["skeleton"])}


def gcn_objective(outputs: dict, target: torch.Tensor, config: STROINetConfig) -> tuple[torch.Tensor, dict]:
    """Algorithm 1 step 1, the GCN alone: Eq. (6)'s skeleton term (model.loss)."""
    return stream_term(outputs["logits"], target, config), {}


def recipe(ctx: TrainContext, config: StroiTrain) -> None:
    model = ctx.model
    if config.init_checkpoint:
        load_torchvision_resnet18(model.rgb, config.init_checkpoint, "train_stroi.init_checkpoint")

    def objective(outputs, target):
        total, parts = stroi_loss(outputs, target, config.model)
        return total, {k: float(v) for k, v in parts.items()}

    fit(ctx, Phase("gcn", config.gcn, train_only(model, ["skeleton"]), partial(gcn_objective, config=config.model),
                   forward=_gcn_forward, stream_modules=("skeleton",)))
    fit(ctx, Phase("resnet", config.resnet, train_only(model, ["rgb"]), objective,
                   metric_keys=("logits", "skeleton", "rgb")))
    if config.finetune.epochs > 0:
        fit(ctx, Phase("finetune", config.finetune, train_only(model, ["skeleton", "rgb"]), objective,
                       metric_keys=("logits", "skeleton", "rgb")))


def summarize(outputs: dict, classes: np.ndarray) -> dict:
    """Mean per-sample joint weight of each ST-ROI part joint over the test split."""
    from har.layout import STROI_PARTS
    weights = outputs["joint_weights"]
    return {"mean_part_weight": {name: round(float(weights[:, joint].mean()), 4) for name, joint in STROI_PARTS}}


SPEC = ModelSpec(
    name="stroi", paper="Skeleton-driven ST-ROI attention: ST-GCN joint weights x ST-ROI mosaic -> ResNet-18",
    inputs=("skeleton", "stroi"), config_type=StroiTrain, build=build_stroi_net, make_inputs=stroi_inputs,
    recipe=recipe, stream_keys=("skeleton", "rgb"), summarize=summarize, image_inputs=("stroi",),
    late_keys=("resnet", "finetune", "model.resnet_width", "model.resnet_depths", "model.resnet_dropout",
               "model.input_size", "model.use_joint_weights", "model.joint_weight_norm", "model.ensemble",
               "model.ensemble_rgb_weight", "model.rgb_loss_weight", "init_checkpoint"),
)
