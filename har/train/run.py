"""Train one model end to end: open its feature stores, carve validation, run its recipe, save the result."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch

from har.config import from_mapping
from har.errors import MissingArtifactError, WrongArtifactError
from har.io.store import atomic_dir, write_json
from har.provenance import code_digest, project_modules  # noqa: F401 (project_modules: tests)
from har.train import checkpoint, distributed
from har.train.data import (
    FeatureDataset,
    FeatureStores,
    SampleCache,
    carve_validation,
    loader_workers,
    make_loader,
)
from har.train.loop import PhaseConfig, TrainContext
from har.train.precision import Precision
from har.train.spec import ModelSpec


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def without_keys(mapping: dict, dotted: tuple[str, ...]) -> dict:
    """A copy of a nested dict without the dotted keys ("model.fusion", "fuse")."""
    out = {k: (without_keys(v, tuple(d.split(".", 1)[1] for d in dotted if d.startswith(f"{k}.")))
               if isinstance(v, dict) else v) for k, v in mapping.items() if k not in dotted}
    return out


def environment() -> dict[str, str]:
    """Versions that change the numbers a run produces (kernels, random streams) though the code is the same."""
    return {"python": ".".join(map(str, sys.version_info[:3])), "torch": torch.__version__,
            "numpy": np.__version__}


def fingerprint(spec: ModelSpec, config, stores: FeatureStores, ignore: tuple[str, ...] = (),
                code: str | None = None) -> str:
    """Identity of a training run: its config (less the dotted keys in `ignore`), the identity of its input
    data (attrs, samples, shapes), the bytes of its init_checkpoint file (if any), the project code loaded
    (code_digest() unless given) and the environment.
    Checkpoints are reused only under an equal fingerprint."""
    described = without_keys(asdict(config), ignore)
    if "nproc" in described:  # the processes really training (torchrun may be run by hand with nproc: 1)
        described["nproc"] = distributed.world_size()
    code = code_digest() if code is None else code
    digest = hashlib.sha256(json.dumps([spec.name, described, code, environment()], sort_keys=True,
                                       default=str).encode())
    init = getattr(config, "init_checkpoint", "")
    if init and "init_checkpoint" not in ignore and Path(init).is_file():
        # DVC tracks the parameter (a path), not the file: a new file at the same path must not resume old weights
        with open(init, "rb") as weights:
            digest.update(hashlib.file_digest(weights, "sha256").digest())
    for group in stores.groups.values():
        digest.update(json.dumps(dict(group.attrs), sort_keys=True, default=str).encode())
        digest.update(stores.meta["sample"].astype(str).tobytes())
        digest.update(str({k: group[k].shape for k in sorted(group.array_keys())}).encode())
    return digest.hexdigest()[:16]


def open_inputs(spec: ModelSpec, store_paths: dict[str, Path]) -> FeatureStores:
    missing = [name for name in spec.inputs if name not in store_paths]
    if missing:
        raise KeyError(f"model {spec.name!r} needs feature stores {missing}")
    return FeatureStores.open({name: store_paths[name] for name in spec.inputs})


def open_live(folder: Path):
    """A dvclive logger writing only metrics.json and plots/ under `folder` (emptied first): no dvc.yaml (the
    stage's dvc.yaml entry declares its files), no experiment saved, no report, no timestamps."""
    from dvclive import Live
    return Live(dir=str(folder), resume=False, report=None, save_dvc_exp=False, dvcyaml=False)


def train_model(spec: ModelSpec, config, store_paths: dict[str, Path], out_dir: Path,
                checkpoint_dir: Path, progress: bool = True, live_dir: Path | None = None) -> dict:
    """Train `spec` with `config` (its train section); write model.pt, history.json and split.json to out_dir and,
    with `live_dir`, every epoch of every phase (and each phase's best epoch) to dvclive there."""
    torch.manual_seed(config.seed)
    device = distributed.start(pick_device(config.device))  # cuda:LOCAL_RANK under torchrun
    check_batch_sizes(spec, config)
    stores = open_inputs(spec, store_paths)
    if config.benchmark not in stores.splits:
        raise KeyError(f"benchmark {config.benchmark!r} not in this dataset (has {sorted(stores.splits)})")
    split = stores.splits[config.benchmark]
    rng = np.random.default_rng(config.seed)
    fit_index, val_index = carve_validation(split["train"], stores.meta["subject"], config.val_fraction, rng)
    classes = np.unique(stores.meta["label"])
    class_of_label = {int(label): k for k, label in enumerate(classes)}
    cache = SampleCache(config.cache_mb * 2**20)
    make_inputs = partial(spec.make_inputs, config)
    train_set = FeatureDataset(stores, fit_index, class_of_label, make_inputs, cache, augment=True,
                               seed=config.seed)
    val_set = FeatureDataset(stores, val_index, class_of_label, make_inputs, cache, augment=False)
    precision = Precision.of(config, device, spec.image_inputs)
    model = spec.build(config.model, len(classes)).to(device)
    model = precision.prepare_model(distributed.sync_batchnorm(model, device))  # global-batch BN under DDP
    batch_size = getattr(getattr(config, "fit", None), "batch_size", config.eval_batch_size)
    workers, pinned = loader_workers(config.loader_workers, device), device.type == "cuda"
    code = code_digest()  # every training module is imported by now (model, recipe, data, loop, checkpoint)
    ctx = TrainContext(
        model=model, device=device, seed=config.seed, progress=progress,
        train_loader=make_loader(train_set, batch_size, True, config.seed, workers, pinned),
        val_loader=make_loader(distributed.shard(val_set), config.eval_batch_size, False, config.seed, workers,
                               pinned),
        checkpoint_dir=Path(checkpoint_dir), fingerprint=fingerprint(spec, config, stores, code=code),
        stream_fingerprint=fingerprint(spec, config, stores, ignore=spec.late_keys, code=code),
        live=None if live_dir is None or not distributed.is_main() else open_live(live_dir), precision=precision,
    )
    ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    spec.recipe(ctx, config)
    if ctx.live is not None:
        for phase, best in ctx.best.items():
            ctx.live.summary.setdefault(phase, {}).update(best_epoch=best["epoch"], best_val_acc=best["val_acc"])
        ctx.live.end()
    if distributed.is_main():
        _write_model(out_dir, spec, config, model, classes, ctx.history, stores, fit_index, val_index)
    distributed.barrier()  # the other ranks end once rank 0 has written the model
    return {"model": spec.name, "device": str(device), "train_seconds": round(ctx.seconds, 2),
            "fit_samples": int(len(fit_index)), "val_samples": int(len(val_index)),
            "parameters": int(sum(p.numel() for p in model.parameters())), "processes": distributed.world_size()}


def check_batch_sizes(spec: ModelSpec, config, world: int | None = None) -> None:
    """Every training phase's global batch size of `config` splits evenly over `world` DDP processes (default:
    this run's); a ConfigError names the first key that does not."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, PhaseConfig) and value.epochs > 0:
            distributed.check_batch_size(value.batch_size, f"train_{spec.name}.{field.name}.batch_size", world)


def _write_model(out_dir: Path, spec: ModelSpec, config, model, classes, history: list, stores: FeatureStores,
                 fit_index: np.ndarray, val_index: np.ndarray) -> None:
    """out_dir/{model.pt, history.json, split.json}."""
    with atomic_dir(out_dir) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}  # layout-free file
        torch.save({"model": state, "spec": spec.name, "model_config": checkpoint.plain(asdict(config.model)),
                    "classes": classes.tolist()}, tmp / "model.pt")
        write_json(tmp / "history.json", history)
        write_json(tmp / "split.json", {
            "benchmark": config.benchmark, "fit": stores.meta["sample"][fit_index].tolist(),
            "validation": stores.meta["sample"][val_index].tolist()})


def trained_model_file(spec: ModelSpec, model_dir: Path) -> Path:
    """`model_dir`/model.pt; a MissingArtifactError saying how to get it when the model has not been trained here."""
    path = Path(model_dir) / "model.pt"
    if not path.is_file():
        raise MissingArtifactError(f"{path}: no trained {spec.name!r} model here; fetch it with `dvc pull "
                                   f"train_{spec.name}` or build it with `dvc repro train_{spec.name}`")
    return path


def load_trained(spec: ModelSpec, config, model_dir: Path, device: torch.device):
    """(model in eval mode, classes array) from a train stage's model.pt."""
    saved = checkpoint.load(trained_model_file(spec, model_dir), device)
    if saved["spec"] != spec.name:
        raise WrongArtifactError(f"{model_dir}/model.pt holds a {saved['spec']!r} model, not {spec.name!r}")
    model_config = from_mapping(type(config.model), saved["model_config"], f"{model_dir}/model.pt")
    model = spec.build(model_config, len(saved["classes"])).to(device)
    model.load_state_dict(saved["model"])
    model.eval()
    return model, np.array(saved["classes"])
