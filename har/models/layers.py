"""Layers shared by several models."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al., CVPR 2018) for (B, C, ...) tensors of any rank.

    Global average over every non-channel axis → FC(C → C/r) → ReLU → FC(C/r → C) → sigmoid → rescale.
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 4):
        super().__init__()
        hidden = max(min_hidden, channels // reduction)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.flatten(2).mean(dim=2) if x.dim() > 2 else x
        weights = self.fc(squeezed)
        return x * weights.view(*weights.shape, *([1] * (x.dim() - 2)))


def init_conv_weights(module: nn.Module, mode: Literal["fan_in", "fan_out"] = "fan_out") -> nn.Module:
    """He-normal initialisation (He et al., ICCV 2015; ReLU gain) of every 1D/2D/3D convolution in `module`.

    std = sqrt(2 / fan) with fan = fan_out (torchvision's ResNets) or fan_in (the original He scheme). Other layers
    keep PyTorch's defaults (batch-norm weight 1 and bias 0 already are the identity). Draws from the global RNG.
    """
    for sub in module.modules():
        if isinstance(sub, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(sub.weight, mode=mode, nonlinearity="relu")
    return module


def set_frozen(module: nn.Module, frozen: bool = True) -> nn.Module:
    """Freeze (no gradients, eval mode: batch-norm statistics and dropout fixed) or unfreeze a sub-network.

    The project's one freezing mechanism: a module is frozen when it has parameters and none of them requires a
    gradient (is_frozen). nn.Module.train() recurses into every child, so put a model in training mode with
    train_mode(), which keeps every frozen module in eval mode (har.train does).
    """
    for parameter in module.parameters():
        parameter.requires_grad_(not frozen)
    module.train(not frozen)
    return module


def is_frozen(module: nn.Module) -> bool:
    """True when `module` has parameters and none requires a gradient (frozen by set_frozen)."""
    flags = [p.requires_grad for p in module.parameters()]
    return bool(flags) and not any(flags)


def train_only(model: nn.Module, trainable: Iterable[str], frozen: Iterable[str] = ()) -> list[nn.Parameter]:
    """Unfreeze the sub-modules named in `trainable` (dotted names, e.g. "rgb" or "parts"), freeze every other
    parameter of `model`, then freeze the sub-modules in `frozen` (inside a trainable one, e.g. a head). Returns the
    parameters left trainable (what a training phase optimises)."""
    names = dict(model.named_modules())
    unknown = [name for name in (*trainable, *frozen) if name not in names or not name]
    if unknown:
        raise KeyError(f"{type(model).__name__} has no sub-module(s) {unknown}")
    set_frozen(model, True)
    for name in trainable:
        set_frozen(names[name], False)
    for name in frozen:
        set_frozen(names[name], True)
    return [p for p in model.parameters() if p.requires_grad]


def restore_frozen_eval(model: nn.Module) -> None:
    """Put every frozen sub-module (is_frozen) back in eval mode (train_mode calls it after model.train())."""
    for module in model.modules():
        if is_frozen(module):
            module.eval()


def train_mode(model: nn.Module, mode: bool = True) -> nn.Module:
    """model.train(mode), keeping every frozen sub-module in eval mode (its batch-norm statistics cannot drift)."""
    model.train(mode)
    if mode:
        restore_frozen_eval(model)
    return model
