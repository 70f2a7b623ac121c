"""Data-parallel training and evaluation over several processes launched by torchrun (DistributedDataParallel).

torchrun starts the processes and sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; `start` joins the
process group it describes (gloo on CPU, NCCL on CUDA with one GPU per process: cuda:LOCAL_RANK). Nothing here
starts processes: `torchrun_command` only builds the torchrun command line a `har-prep` command re-runs itself with.

A run of K processes computes what one process computes with the same global batch, up to float rounding:
- every epoch draws ONE seeded permutation of the training samples (the same draw as the single-process loader);
  each global batch of B samples is cut into K shares, rank r taking its positions r, r + K, ... (B must be a
  multiple of K), so the K per-rank batches of a step together are the single-process batch;
- each rank weights its mean loss by (its samples * K / the global batch's samples) before DDP averages the
  gradients over the K ranks, which makes the gradient that of the global batch's mean loss even for a shorter last
  batch; a rank whose share of that last batch is empty repeats one sample with weight 0 (every rank must take
  part in every step's all-reduce);
- batch normalisation uses the statistics of the whole global batch (har.train.global_batchnorm, on every
  device: torch's SyncBatchNorm refuses CPU tensors), so the K-process forward pass is the single-process one;
- validation and test samples are sharded without padding (rank r takes positions r, r + K, ...); epoch totals are
  summed over the ranks, so every rank takes the same early-stopping decision, and test outputs are gathered back
  into the single-process order, each sample once.
"""
from __future__ import annotations

import atexit
import math
import os
import sys
from collections.abc import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, Sampler, Subset

from har.config import ConfigError
from har.train.global_batchnorm import convert as global_batchnorm
from har.train.global_batchnorm import empty_share  # noqa: F401 (used by har.train.loop)

TORCHRUN_ENV = ("LOCAL_RANK", "RANK")  # set by torchrun in each process it starts


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True in the process that writes files (rank 0, or the only process)."""
    return rank() == 0


def start(device: torch.device) -> torch.device:
    """Join the process group torchrun described in the environment (WORLD_SIZE > 1; a no-op otherwise or when
    joined already) and return this process's device: cuda:LOCAL_RANK when `device` is CUDA, else `device`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
        atexit.register(stop)
    return device


def stop() -> None:
    """Leave the process group (idempotent)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def torchrun_command(nproc: int, command: list[str], key: str = "nproc") -> list[str] | None:
    """The torchrun command line running `command` (a full argv) in `nproc` processes on this machine, or None
    when it needs no launch: nproc is 1 or this process is already one that torchrun started."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"{key} must be an integer of at least 1, got {nproc!r}")
    if nproc == 1 or any(name in os.environ for name in TORCHRUN_ENV):
        return None
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "--no-python", *command]


def check_batch_size(size: int, key: str, world: int | None = None) -> None:
    """A global batch size must split evenly over the `world` processes (default: this run's), so that the K
    per-process batches together are the single-process batch; har.config.ConfigError naming `key` otherwise."""
    world = world_size() if world is None else world
    if size % world:
        raise ConfigError(f"{key}: batch size {size} does not split over {world} DDP processes (the global batch "
                         f"is cut into equal per-process shares): use a multiple of {world} or change nproc")


class ShardedBatchSampler(Sampler[list[int]]):
    """Global batches of `batch_size` consecutive positions of `sampler` (one permutation per epoch), each cut into
    `world` shares: this rank yields positions rank, rank + world, ... of every global batch. A rank with no
    position in a (short last) batch yields the batch's first one, weighted 0 by `step_weights`."""

    def __init__(self, sampler: Sampler[int], batch_size: int, rank: int, world: int):
        if batch_size % world:
            raise ValueError(f"batch size {batch_size} does not split over {world} processes")
        self.sampler, self.batch_size, self.rank, self.world = sampler, batch_size, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        for chunk in BatchSampler(self.sampler, self.batch_size, drop_last=False):
            yield chunk[self.rank::self.world] or chunk[:1]

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def step_weights(self) -> list[tuple[float, int]]:
        """(loss weight, samples counted) of this rank for every step of an epoch: weight = its samples * world /
        the global batch's samples (1 for full batches, 0 for a repeated sample)."""
        total, steps = len(self.sampler), []
        for begin in range(0, total, self.batch_size):
            size = min(self.batch_size, total - begin)
            mine = len(range(self.rank, size, self.world))
            steps.append((mine * self.world / size, mine))
        return steps


def shard(dataset):
    """This rank's positions rank, rank + world, ... of `dataset` (the whole dataset in a single process)."""
    world = world_size()
    return dataset if world == 1 else Subset(dataset, range(rank(), len(dataset), world))


def sum_over_ranks(totals: dict[str, float]) -> dict[str, float]:
    """{key: value summed over every rank} (in rank order: the same result on every rank)."""
    if world_size() == 1:
        return totals
    gathered: list = [None] * world_size()
    dist.all_gather_object(gathered, totals)
    keys = dict.fromkeys(key for part in gathered for key in part)  # in order of first appearance
    return {key: sum(part.get(key, 0.0) for part in gathered) for key in keys}


def gather_sharded(outputs: dict[str, np.ndarray], total: int) -> dict[str, np.ndarray]:
    """Per-rank outputs over `shard(dataset)` -> outputs over the whole dataset in its order, each row once.

    outputs: {key: (n_rank, ...)} with row j = dataset position rank + j * world; returns {key: (total, ...)}.
    """
    world = world_size()
    if world == 1:
        return outputs
    gathered: list = [None] * world
    dist.all_gather_object(gathered, outputs)
    keys = sorted(set().union(*gathered))
    merged = {}
    for key in keys:
        parts = [part[key] for part in gathered if key in part]
        merged[key] = np.empty((total, *parts[0].shape[1:]), parts[0].dtype)
        for r, part in enumerate(gathered):
            if key in part:
                merged[key][r::world] = part[key]
    return merged


class PhaseForward(nn.Module):
    """A model whose forward runs a training phase's forward function (e.g. net.forward_stream(...)), so that
    DistributedDataParallel wraps every phase's computation, not only model.forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, function, batch: dict) -> dict:
        return function(self.model, batch)


def wrap(model: nn.Module, device: torch.device) -> nn.Module | None:
    """DistributedDataParallel over PhaseForward(model) for the current phase (None in a single process). Built
    once per phase, after the phase froze its sub-modules: DDP registers the parameters requiring gradients when
    it is built. find_unused_parameters: a phase may not use every trainable parameter in its forward."""
    if world_size() == 1:
        return None
    from torch.nn.parallel import DistributedDataParallel
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(PhaseForward(model), device_ids=ids, find_unused_parameters=True)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of `model` normalising over the global batch of all processes (unchanged in a single
    process) with har.train.global_batchnorm on every device (torch's SyncBatchNorm refuses CPU tensors).
    Parameters and buffers are kept (the same tensors, the same state-dict keys)."""
    return model if world_size() == 1 else global_batchnorm(model)
