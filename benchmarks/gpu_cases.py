"""The workloads of benchmarks/gpu_check.py: each model at paper or reduced scale, and synthetic feature stores of
its input types (written with har.io.store's own helpers, so FeatureDataset + make_loader read them as they read
the pipeline's stores).

Paper scale = each model config's `paper()` (the README's paper-size configuration) on paper-size inputs;
reduced = the CPU defaults of params.yaml (the recipes' dataclass defaults) on their inputs; smoke = tiny widths
and inputs (about params.smoke.yaml's), for the CI test of the script itself.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from har.io.store import atomic_store, create_sample_array, stamp, write_array, write_meta, write_splits
from har.train.inputs import HeatmapRendering
from har.train.registry import model_spec

NUM_CLASSES = 60  # NTU RGB+D 60 heads
PAPER_BATCH = {"glimpse": 60, "epam": 16, "amfi": 16, "das": 4, "stroi": 32}
REDUCED_BATCH = {"glimpse": 16, "epam": 4, "amfi": 4, "das": 4, "stroi": 4}
SMOKE_MODELS = {  # tiny widths (fields every version of the model configs has)
    "glimpse": {"hidden": 8, "layers": 1, "joint_attention_hidden": 8},
    "epam": {"rgb_frames": 4, "rgb_size": 32, "pose_frames": 12, "pose_size": 16, "temporal_reduction": 2},
    "amfi": {"rgb_size": 16},
    "das": {"clip_frames": 4, "pose_steps": 4, "lstm_hidden": 16, "attention_hidden": 8},
    "stroi": {"gcn_widths": (8, 16, 16), "resnet_width": 8, "input_size": 32},
}


@dataclass(frozen=True)
class Case:
    """One model's workload: its train section (model config at the scale), batch size and the per-sample layout
    of every feature store it reads: store -> array -> (shape, dtype); a () shape is a per-sample scalar."""
    name: str
    config: Any
    batch: int
    layouts: dict[str, dict[str, tuple[tuple[int, ...], str]]]


def _skeleton(frames: int) -> dict:
    return {"x": ((2, frames, 25, 3), "float32"), "length": ((), "int32")}


def _clips(frames: int, side: int) -> dict:
    return {"clips": ((frames, side, side, 3), "uint8")}


def _heatmaps(channels: int, frames: int, side: int) -> dict:
    return {"heatmaps": ((channels, frames, side, side), "uint8"), "keypoints": ((2, 2 * frames, 25, 2), "float32"),
            "num_frames": ((), "int32")}


def case(name: str, scale: str, batch: int | None = None) -> Case:
    """The workload of model `name` at `scale` ("paper", "reduced" or "smoke"); `batch` overrides the default
    size."""
    spec = model_spec(name)
    paper, smoke = scale == "paper", scale == "smoke"
    base = spec.config_type()
    model = type(base.model).paper() if paper else base.model
    if smoke:
        model = dataclasses.replace(model, **SMOKE_MODELS[name])
    config = dataclasses.replace(base, model=model)
    if name == "glimpse":
        layouts = {"skeleton": _skeleton(8 if smoke else 32)}  # the paper's T = 32
    elif name == "epam":
        config = dataclasses.replace(config, heatmaps=HeatmapRendering(sigma=0.6, limbs=False))
        layouts = {"rgb_clips": _clips(model.rgb_frames, model.rgb_size),
                   "heatmaps": _heatmaps(model.pose.in_channels, model.pose_frames, model.pose_size)}
    elif name == "amfi":
        layouts = {"skeleton": _skeleton(getattr(model, "skeleton_frames", 64 if paper else 8 if smoke else 32)),
                   "rgb_clips": _clips(getattr(model, "rgb_frames", 4 if smoke else 16), model.rgb_size)}
    elif name == "das":
        side = getattr(model, "crop_size", 224 if paper else 16 if smoke else 32)
        layouts = {"skeleton": _skeleton(64 if paper else 8 if smoke else 32),
                   "part_crops": {"crops": ((3, model.clip_frames + 8, side, side, 3), "uint8")}}
    elif name == "stroi":
        cell = 96 if paper else 8 if smoke else 32  # video.roi_out: the paper's 96-pixel sub-ROIs, the CPU default 32
        layouts = {"skeleton": _skeleton(300 if paper else 8 if smoke else 32),
                   "stroi": {"mosaic": ((5 * cell, 5 * cell, 3), "uint8")}}
    else:
        raise KeyError(f"no workload for model {name!r}")
    return Case(name, config, batch or (PAPER_BATCH if paper else REDUCED_BATCH)[name], layouts)  # smoke: --batch


def _values(array: str, shape: tuple[int, ...], dtype: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, *shape) synthetic values of one stored array: images and heatmaps uint8, joints in metres,
    keypoints on the heatmap grid, lengths full."""
    full = (count, *shape)
    if array in ("length", "num_frames"):  # filled in by write_stores: the stored frame count
        return np.zeros(count, dtype)
    if array == "keypoints":
        return rng.uniform(2, 14, full).astype(dtype)
    if dtype == "uint8":
        return rng.integers(0, 256, full, dtype=np.uint8)
    return rng.normal(0, 0.3, full).astype(dtype)


def write_stores(folder: Path, layouts: dict, count: int, seed: int = 0) -> dict[str, Path]:
    """`count` synthetic samples of every store in `layouts` under `folder` (store name -> path); the same sample
    names (unique for count <= 120), labels (i mod 60) and one xsub split (all samples in train) in each."""
    rng = np.random.default_rng(seed)
    names = [f"S001C001P{1 + i % 8:03d}R001A{1 + i % NUM_CLASSES:03d}" for i in range(count)]
    paths = {}
    for store, arrays in layouts.items():
        paths[store] = Path(folder) / f"{store}.zarr"
        with atomic_store(paths[store]) as group:
            for array, (shape, dtype) in arrays.items():
                values = _values(array, shape, dtype, count, rng)
                if array in ("length", "num_frames"):
                    values[:] = arrays["x" if array == "length" else "keypoints"][0][1]
                if shape:
                    create_sample_array(group, array, count, shape, dtype)[...] = values
                else:
                    write_array(group, array, values)
            ones = [1] * count
            write_meta(group, {"sample": names, "label": [i % NUM_CLASSES for i in range(count)], "setup": ones,
                               "camera": ones, "subject": [1 + i % 8 for i in range(count)], "replication": ones})
            write_splits(group, {"xsub": {"train": list(range(count)), "test": []}})
            stamp(group, artifact=store)
    return paths


def synthetic_batch(batch: dict, device: torch.device, seed: int = 0) -> dict:
    """Random tensors with the shapes of a loader batch (floats N(0, 1), other dtypes kept), on `device`."""
    generator = torch.Generator().manual_seed(seed)
    return {k: (torch.randn(v.shape, generator=generator) if v.is_floating_point() else v).to(device)
            for k, v in batch.items()}
