"""Batch normalisation over the global batch of every DDP process, on any device (CPU/gloo included).

torch's nn.SyncBatchNorm does this on CUDA only: on a CPU tensor it raises "SyncBatchNorm expected input tensor to
be on GPU" (torch 2.13). GlobalBatchNorm computes the same statistics with two differentiable all-reduces per
layer (the per-channel sums and counts, then the sums of squared deviations from the global mean, which is more
accurate than the sum of squares), so a K-process CPU run normalises exactly like a one-process run of the same
global batch, and its gradients flow through the statistics of every rank. In eval mode, or without a process
group of several ranks, it is plain batch normalisation. It runs on CUDA/NCCL alike and is used there too, so
the code path the CPU tests check is the one GPUs run.

A rank that has no sample of a step's (short, last) global batch repeats one with loss weight 0
(har.train.distributed); inside `empty_share()` its samples are left out of the statistics too.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

_STATE = {"empty": False}


@contextmanager
def empty_share(empty: bool = True) -> Iterator[None]:
    """While active (and `empty`), this rank's samples count for nothing in the global statistics."""
    before, _STATE["empty"] = _STATE["empty"], empty
    try:
        yield
    finally:
        _STATE["empty"] = before


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over ranks: the gradient of every rank's input is the sum of every rank's gradient."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(grad)


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm{1,2,3}d over (B, C, ...) inputs whose training statistics cover the batches of every rank."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"GlobalBatchNorm expects (B, C, ...) input, got {input.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        synced = self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not synced:
            return super().forward(x)
        self._check_input_dim(x)
        dtype, x = x.dtype, x.float()  # statistics in float32 (as batch norm under autocast)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        keep = 0.0 if _STATE["empty"] else 1.0
        local = torch.cat([x.sum(dims), x.new_full((1,), x.numel() / max(x.shape[1], 1))]) * keep
        total = _AllReduceSum.apply(local)
        count, mean = total[-1], total[:-1] / total[-1]
        if float(count.detach()) <= 1:
            raise ValueError(f"GlobalBatchNorm: expected more than 1 value per channel over all ranks, got {count}")
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply(centred.pow(2).sum(dims) * keep) / count
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * count / (count - 1))
        return out.to(dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased_var.to(self.running_var.dtype), alpha=factor)


def convert(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm1d/2d/3d replaced by a GlobalBatchNorm sharing its parameters, buffers and
    training mode (same state-dict keys; a plain model loads the weights)."""
    if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
        out = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
        return out
    for name, child in module.named_children():
        replaced = convert(child)
        if replaced is not child:
            setattr(module, name, replaced)
    return module
