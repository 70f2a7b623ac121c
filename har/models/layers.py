"""Layers shared by several models."""
from __future__ import annotations

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


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def set_frozen(module: nn.Module, frozen: bool = True) -> nn.Module:
    """Freeze (no gradients, eval mode: batch-norm statistics and dropout fixed) or unfreeze a sub-network.

    A frozen part must stay in eval mode even when its parent is put in train mode: callers re-apply this after
    `model.train()` (har.train does), because nn.Module.train() recurses into every child.
    """
    for parameter in module.parameters():
        parameter.requires_grad_(not frozen)
    module.train(not frozen)
    module._har_frozen = frozen  # read by har.train to restore eval mode after model.train()
    return module


def restore_frozen_eval(model: nn.Module) -> None:
    """Put every sub-module marked frozen by set_frozen back in eval mode (call after model.train())."""
    for module in model.modules():
        if getattr(module, "_har_frozen", False):
            module.eval()
