"""The training loop shared by every model: phases, early stopping on validation, resumable checkpoints.

A model's recipe is a sequence of phases (e.g. pretrain a stream, then fine-tune the whole network). Each phase
trains some parameters with its own optimiser and schedule, evaluates on the validation split after every epoch,
keeps the best weights (by the validation accuracy of `select_key`) and stops early after `patience` epochs
without improvement. After every epoch the full state (model, optimiser, learning-rate scheduler, best epoch,
history) is checkpointed atomically. A re-run with the same
fingerprint (config, data, code and environment: har.train.run.fingerprint) resumes from there, and a finished
phase is not run again. Files of a phase written under another fingerprint are never loaded: they are removed and
the phase is trained from scratch.

Every epoch record (the history of every phase, resumed or reused ones included, in order) is also logged to
dvclive when the context has a `live` logger (one dvclive step per epoch of every phase, metrics named
`<phase>/train/loss`, `<phase>/val/acc_logits`, ...): the checkpoints' history is the source of truth, so a resumed
run logs exactly what an uninterrupted one does.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from har.models.layers import train_mode
from har.train import checkpoint, distributed
from har.train.data import make_loader
from har.train.precision import Precision, optimizer_step


@dataclass(frozen=True)
class OptimConfig:
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False
    schedule: Literal["constant", "cosine", "step"] = "constant"
    milestones: tuple[int, ...] = ()  # epochs at which a step schedule multiplies the lr by gamma
    gamma: float = 0.1
    warmup_epochs: int = 0


@dataclass(frozen=True)
class PhaseConfig:
    epochs: int = 10
    batch_size: int = 32
    optim: OptimConfig = field(default_factory=OptimConfig)
    patience: int = 0  # early stopping: epochs without validation improvement (0 = never stop early)
    grad_clip: float = 0.0  # max gradient norm (0 = off)


# (outputs, target) -> (loss, {term name: float}); the terms' epoch means are logged beside the loss as
# train_<term> / val_<term> (names must not be "loss" or "count" or start with "acc_")
LossFn = Callable[[dict, torch.Tensor], tuple[torch.Tensor, dict]]
ForwardFn = Callable[[nn.Module, dict], dict]


def default_forward(model: nn.Module, batch: dict) -> dict:
    inputs = {k: v for k, v in batch.items() if k not in ("target", "index")}
    return model(**inputs)


def cross_entropy_on(key: str = "logits") -> LossFn:
    def loss(outputs: dict, target: torch.Tensor):
        value = nn.functional.cross_entropy(outputs[key], target)
        return value, {"ce": float(value.detach())}
    return loss


@dataclass
class Phase:
    name: str
    config: PhaseConfig
    parameters: list  # the parameters this phase optimises
    loss: LossFn
    select_key: str = "logits"  # output whose validation accuracy picks the best epoch
    metric_keys: tuple[str, ...] = ("logits",)  # logits outputs whose accuracy is logged
    forward: ForwardFn = default_forward
    # Set for a stream's pretraining: the sub-modules (state-dict prefixes) it trains. Its result does not depend
    # on the spec's late_keys (fusion settings), so its finished checkpoint is matched on ctx.stream_fingerprint
    # and, when only those keys changed, these sub-modules (and nothing else) are loaded from it.
    stream_modules: tuple[str, ...] = ()

    def __post_init__(self):
        if self.select_key not in self.metric_keys:
            self.metric_keys = (self.select_key, *self.metric_keys)


@dataclass
class TrainContext:
    """Everything a recipe needs to run its phases."""
    model: nn.Module
    train_loader: DataLoader
    val_loader: DataLoader
    device: torch.device
    checkpoint_dir: Path
    fingerprint: str
    seed: int
    stream_fingerprint: str = ""  # the fingerprint without the spec's late_keys (for stream phases)
    progress: bool = True
    history: list = field(default_factory=list)  # one dict per epoch of every phase
    seconds: float = 0.0
    live: Any = None  # a dvclive.Live receiving every history record (None: no logging)
    best: dict = field(default_factory=dict)  # phase name -> {"epoch", "val_acc"} of its best epoch
    precision: Precision = field(default_factory=Precision)  # autocast dtype and memory layout (default fp32)
    scaler: Any = None  # the fp16 GradScaler of the phase being trained (None: bf16 or fp32)
    net: Any = None  # DistributedDataParallel over the phase being trained (har.train.distributed.wrap; None: 1 rank)

    def record(self, records: list[dict]) -> None:
        """Append epoch records to the history and log each to dvclive as one step (step = its history index)."""
        for record in records:
            self.history.append(record)
            if self.live is not None:
                log_epoch(self.live, len(self.history) - 1, record)


def log_epoch(live, step: int, record: dict) -> None:
    """One history record as dvclive step `step`, its metrics under its phase's name: `<phase>/epoch`,
    `<phase>/lr`, `<phase>/train/<metric>` and `<phase>/val/<metric>` (loss and the accuracy of each logged output,
    e.g. `fuse/val/acc_logits`)."""
    live.step = step
    for key, value in sorted(record.items()):  # sorted: a record read back from a checkpoint logs alike
        if key != "phase":
            name = key.replace("_", "/", 1) if key.startswith(("train_", "val_")) else key
            live.log_metric(f"{record['phase']}/{name}", value)
    live.next_step()


def make_optimizer(parameters: list, config: OptimConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay, nesterov=config.nesterov)


def make_scheduler(optimizer: torch.optim.Optimizer, config: PhaseConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-epoch schedule (step it once after each epoch): lr = config.optim.lr * lr_factor(epoch)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, partial(lr_factor, config.optim, epochs=config.epochs))


def lr_factor(config: OptimConfig, epoch: int, epochs: int) -> float:
    """Learning-rate multiplier for a 0-based epoch: linear warm-up, then constant, cosine or step decay."""
    if epoch < config.warmup_epochs:
        return (epoch + 1) / (config.warmup_epochs + 1)
    if config.schedule == "cosine":
        span = max(1, epochs - config.warmup_epochs)
        return 0.5 * (1 + math.cos(math.pi * (epoch - config.warmup_epochs) / span))
    if config.schedule == "step":
        return config.gamma ** sum(epoch >= m for m in config.milestones)
    return 1.0


def _accuracies(outputs: dict, target: torch.Tensor, keys: tuple[str, ...]) -> dict[str, int]:
    return {k: int((outputs[k].argmax(1) == target).sum()) for k in keys if k in outputs}


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def run_epoch(ctx: TrainContext, phase: Phase, optimizer=None) -> dict[str, float]:
    """One pass over the training (optimizer given) or validation loader; mean loss and accuracies. The forward
    and loss run under ctx.precision's autocast, the step through ctx.scaler (fp16 only)."""
    training = optimizer is not None
    loader = ctx.train_loader if training else ctx.val_loader
    train_mode(ctx.model, training)
    # Under DDP (har.train.distributed): each rank's (loss weight, samples counted) of every step, the totals
    # summed over the ranks at the end.
    steps = getattr(loader.batch_sampler, "step_weights", None)
    steps = steps() if training and steps is not None else None
    totals: dict[str, float] = {"loss": 0.0, "count": 0.0}
    with torch.set_grad_enabled(training), ctx.precision.kernels():
        for step, batch in enumerate(loader):
            batch = ctx.precision.prepare_batch(_to_device(batch, ctx.device))
            weight, size = steps[step] if steps is not None else (1.0, batch["target"].shape[0])
            with ctx.precision.autocast(), distributed.empty_share(size == 0):
                net = ctx.net if training and ctx.net is not None else None
                outputs = net(phase.forward, batch) if net is not None else phase.forward(ctx.model, batch)
                loss, terms = phase.loss(outputs, batch["target"])
            if training:
                optimizer_step(loss * weight if weight != 1.0 else loss, optimizer, ctx.scaler, phase.parameters,
                               phase.config.grad_clip)
            if size == 0:  # a repeated sample (weight 0) on a rank without a share of the last batch
                continue
            totals["count"] += size
            totals["loss"] += float(loss.detach()) * size
            for key, value in terms.items():  # the loss's own terms (e.g. ce, weight_term): their means
                totals[key] = totals.get(key, 0.0) + float(value) * size
            for key, correct in _accuracies(outputs, batch["target"], phase.metric_keys).items():
                totals[f"acc_{key}"] = totals.get(f"acc_{key}", 0.0) + correct
    totals = distributed.sum_over_ranks(totals)
    count = totals.pop("count")
    return {k: v / max(count, 1) for k, v in totals.items()}


def _phase_state(ctx, phase, optimizer, scheduler, epoch, best, history) -> dict:
    return {"fingerprint": phase_fingerprint(ctx, phase), "phase": phase.name, "epoch": epoch, "best": best,
            "history": history, "model": ctx.model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict()}


def phase_fingerprint(ctx: TrainContext, phase: Phase) -> str:
    return ctx.stream_fingerprint if phase.stream_modules and ctx.stream_fingerprint else ctx.fingerprint


def load_phase_weights(model: nn.Module, state: dict, phase: Phase) -> None:
    """Load a phase checkpoint: the whole model, or for a stream phase only its sub-modules (the checkpoint may come
    from a run with another fusion module; the rest of the model keeps its freshly built values, as in a run that
    trains this phase itself)."""
    if not phase.stream_modules:
        model.load_state_dict(state)
        return
    prefixes = tuple(f"{name}." for name in phase.stream_modules)
    own = {k for k in model.state_dict() if k.startswith(prefixes)}
    chosen = {k: v for k, v in state.items() if k.startswith(prefixes)}
    if set(chosen) != own:
        raise KeyError(f"phase {phase.name!r}: checkpoint does not hold the same {phase.stream_modules} weights")
    model.load_state_dict(chosen, strict=False)


def use_batch_size(ctx: TrainContext, size: int, phase_name: str) -> None:
    """Re-batch ctx.train_loader when a phase asks for another mini-batch size (same seeded shuffling)."""
    if size < 1:
        raise ValueError(f"phase {phase_name!r}: batch_size must be at least 1, got {size}")
    distributed.check_batch_size(size, f"phase {phase_name!r} batch_size")
    loader = ctx.train_loader
    if getattr(loader.batch_sampler, "batch_size", loader.batch_size) != size:
        ctx.train_loader = make_loader(loader.dataset, size, True, ctx.seed, loader.num_workers,
                                       loader.pin_memory)


def _reuse_finished(ctx: TrainContext, phase: Phase, paths: dict, fingerprint: str) -> dict | None:
    """The summary of this phase finished under `fingerprint`, its best weights loaded into ctx.model; None when
    there is none (or its best weights are missing or of another run, so the phase must be trained again)."""
    done = checkpoint.read_done(paths["done"], fingerprint)
    if done is None:
        return None
    best = checkpoint.load_matching(paths["best"], ctx.device, fingerprint, done["best_epoch"])
    if best is None:
        return None
    load_phase_weights(ctx.model, best["model"], phase)
    ctx.record(done["history"])
    ctx.best[phase.name] = {"epoch": done["best_epoch"], "val_acc": done["best_val_acc"]}
    ctx.seconds += done["seconds"]
    return done


def _resume(ctx: TrainContext, phase: Phase, paths: dict, fingerprint: str, optimizer, scheduler,
            scaler=None) -> tuple:
    """(first epoch, best, history, seconds) of an interrupted run of this phase under `fingerprint`, its weights,
    optimiser, scheduler (and fp16 grad scaler, when the checkpoint has its state) loaded; without one (or with
    files of another run, which are removed) a fresh start."""
    state = checkpoint.load_matching(paths["last"], ctx.device, fingerprint)
    if state is not None and checkpoint.load_matching(paths["best"], ctx.device, fingerprint,
                                                      state["best"]["epoch"]) is not None:
        load_phase_weights(ctx.model, state["model"], phase)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        return state["epoch"] + 1, state["best"], state["history"], state.get("seconds", 0.0)
    distributed.barrier()  # every rank has read the files (each resumes from the same ones) before rank 0 removes them
    if distributed.is_main():
        checkpoint.discard(paths)
    return 0, {"epoch": -1, "acc": float("-inf")}, [], 0.0


RANK_SEED_STRIDE = 1_000_003  # torch's global seed of rank r: that of rank 0 (a single process) + r * this


def _save_on_main(path: Path, state: dict) -> None:
    """Checkpoint `state` from rank 0 only (the ranks hold the same weights)."""
    if distributed.is_main():
        checkpoint.save(path, state)


def fit(ctx: TrainContext, phase: Phase) -> dict:
    """Train one phase (resuming or skipping it when its checkpoints match ctx.fingerprint); load its best
    weights into ctx.model and return {best_epoch, best_val_acc, epochs_run, history}."""
    paths = checkpoint.phase_paths(ctx.checkpoint_dir, phase.name)
    fingerprint = phase_fingerprint(ctx, phase)
    done = _reuse_finished(ctx, phase, paths, fingerprint)
    if done is not None:
        return done
    config = phase.config
    if config.epochs <= 0:
        return {"phase": phase.name, "best_epoch": -1, "best_val_acc": None, "epochs_run": 0, "history": []}
    use_batch_size(ctx, config.batch_size, phase.name)
    optimizer = make_optimizer(phase.parameters, config.optim)
    scheduler = make_scheduler(optimizer, config)
    ctx.scaler = scaler = ctx.precision.scaler()  # a fresh one per phase (it tracks this phase's optimizer)
    start, best, history, seconds = _resume(ctx, phase, paths, fingerprint, optimizer, scheduler, scaler)
    ctx.net = distributed.wrap(ctx.model, ctx.device)  # after this phase froze its sub-modules and resumed
    ctx.record(history)
    stale = 0 if not history else history[-1]["epoch"] - best["epoch"]
    bar = tqdm(range(start, config.epochs), desc=phase.name, unit="epoch",
               disable=not ctx.progress or not distributed.is_main(), dynamic_ncols=True)
    for epoch in bar:
        began = time.perf_counter()
        torch.manual_seed(ctx.seed * 1000 + epoch + RANK_SEED_STRIDE * distributed.rank())  # dropout draws
        # The shuffling order is a function of (seed, epoch) too, not of the loader's history: a run that resumes
        # or reuses finished phases trains exactly like one that ran every phase.
        if ctx.train_loader.generator is not None:
            ctx.train_loader.generator.manual_seed(ctx.seed * 1000 + epoch)
        if hasattr(ctx.train_loader.dataset, "set_epoch"):
            ctx.train_loader.dataset.set_epoch(epoch)
        train = run_epoch(ctx, phase, optimizer)
        val = run_epoch(ctx, phase)
        record = {"phase": phase.name, "epoch": epoch, "lr": optimizer.param_groups[0]["lr"],
                  **{f"train_{k}": round(v, 6) for k, v in train.items()},
                  **{f"val_{k}": round(v, 6) for k, v in val.items()}}
        history.append(record)
        ctx.record([record])
        scheduler.step()
        score = val.get(f"acc_{phase.select_key}", -val["loss"])
        seconds += time.perf_counter() - began
        if score > best["acc"]:
            best, stale = {"epoch": epoch, "acc": score}, 0
            _save_on_main(paths["best"], {"fingerprint": fingerprint, "phase": phase.name, "epoch": epoch,
                                            "model": ctx.model.state_dict()})
        else:
            stale += 1
        state = _phase_state(ctx, phase, optimizer, scheduler, epoch, best, history)
        state["seconds"] = seconds
        if scaler is not None:
            state["scaler"] = scaler.state_dict()
        _save_on_main(paths["last"], state)
        bar.set_postfix(loss=f"{train['loss']:.3f}", val=f"{score:.3f}")
        if config.patience and stale >= config.patience:
            break
    ctx.net = None
    distributed.barrier()  # rank 0 has written the best checkpoint: every rank loads it
    kept = checkpoint.load_matching(paths["best"], ctx.device, fingerprint, best["epoch"])
    if kept is None:
        raise RuntimeError(f"phase {phase.name!r}: no best checkpoint of this run in {paths['best']} "
                           f"(was the validation score ever finite?)")
    ctx.model.load_state_dict(kept["model"])
    summary = {"fingerprint": fingerprint, "phase": phase.name, "best_epoch": best["epoch"],
               "best_val_acc": best["acc"], "epochs_run": len(history), "history": history,
               "seconds": seconds}
    ctx.best[phase.name] = {"epoch": best["epoch"], "val_acc": best["acc"]}
    if distributed.is_main():
        checkpoint.write_done(paths["done"], summary)
        paths["last"].unlink(missing_ok=True)
    ctx.seconds += seconds
    return summary
