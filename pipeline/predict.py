"""`har-prep predict`: classify one .skeleton file (and its _rgb.avi) with any trained model and time it.

The sample goes through the data stages' own per-sample functions (har.builders.one_sample) with the params
sections `skeletons`, `heatmaps`, `poses`, `denoise` and `video`, checked against what the feature stores the model
was trained on recorded, then the recipe's `make_inputs` in evaluation mode and the model's test forward.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import typer

from har.builders.one_sample import STAGES, SampleError, StageSettings, check_against_stores, needs_video, sample_arrays
from har.errors import MissingArtifactError
from har.io.store import open_store
from har.layout import action_name
from har.train.registry import model_spec
from har.train.run import load_trained, pick_device
from pipeline import paths
from pipeline.params import load_params, section


def stage_settings(params_file: Path, params: dict) -> StageSettings:
    """The data stages' params sections."""
    return StageSettings(**{f.name: section(type(f.default_factory()), f.name, params_file, params)
                            for f in dataclasses.fields(StageSettings)})


def trained_stores(spec) -> dict:
    """The feature stores the model was trained on, opened (a missing one names how to get it)."""
    stores = {}
    for store in spec.inputs:
        path = paths.FEATURE_STORES[store]
        if not (path / "zarr.json").exists():
            raise MissingArtifactError(f"{path}: missing; predict preprocesses as this store (which model "
                                       f"{spec.name!r} was trained on) was built and checks the params against "
                                       f"it: get it with `dvc pull {STAGES[store]}` or `dvc repro {STAGES[store]}`")
        stores[store] = open_store(path)
    return stores


def load_model(spec, params_file: Path, params: dict, model_dir: Path):
    """(model, classes, its train_<model> config with the trained model's own settings, device); a missing
    model.pt says how to get it (har.train.run.trained_model_file)."""
    config = section(spec.config_type, f"train_{spec.name}", params_file, params)
    device = pick_device(config.device)
    model, classes = load_trained(spec, config, model_dir, device)
    return model, classes, dataclasses.replace(config, model=model.config), device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_rates(spec, model, batch: dict, repeat: int, device: torch.device) -> tuple[float, float | None]:
    """(one sequence at a time, batches of 64) classification rates of the model alone (its test forward), over
    `repeat` single calls and repeat // 4 batches (None with fewer than 4 repetitions)."""
    with torch.no_grad():
        spec.predict(model, batch)
        _sync(device)
        began = time.perf_counter()
        for _ in range(repeat):
            spec.predict(model, batch)
        _sync(device)
        single = repeat / (time.perf_counter() - began)
        if repeat < 4:
            return single, None
        big = {k: v.repeat(64, *[1] * (v.dim() - 1)) for k, v in batch.items()}
        spec.predict(model, big)
        _sync(device)
        began = time.perf_counter()
        for _ in range(repeat // 4):
            spec.predict(model, big)
        _sync(device)
        batched = 64 * (repeat // 4) / (time.perf_counter() - began)
    return single, batched


def prepare(spec, config, settings: StageSettings, skeleton_file: Path, video_file: Path | None,
            timings: dict) -> dict:
    """One sample's model inputs as a batch of one, collated as the evaluation loader collates them."""
    arrays = sample_arrays(skeleton_file, spec.inputs, settings, video_file, timings)
    began = time.perf_counter()
    inputs = spec.make_inputs(config, arrays, None)
    timings["inputs"] = time.perf_counter() - began
    return torch.utils.data.default_collate([inputs])


def _timed_prepare(spec, config, settings, skeleton_file, video_file, device) -> tuple[dict, dict, float]:
    """(batch on device, seconds per step, total seconds) of the second of two preprocessing runs: the first loads
    libraries and warms caches (its total is returned as the third value), the second is what a sample costs."""
    cold = time.perf_counter()
    prepare(spec, config, settings, skeleton_file, video_file, {})
    cold = time.perf_counter() - cold
    timings: dict[str, float] = {}
    began = time.perf_counter()
    batch = {k: v.to(device) for k, v in prepare(spec, config, settings, skeleton_file, video_file,
                                                  timings).items()}
    timings["total"] = time.perf_counter() - began
    return batch, timings, cold


def run(skeleton_file: Path, model_name: str, model_dir: Path | None, params_file: Path, repeat: int,
        video_file: Path | None = None) -> None:
    spec = model_spec(model_name)
    if needs_video(spec.inputs) and video_file is None:
        raise SampleError(f"model {model_name!r} reads {', '.join(spec.inputs)}, cut from the video: give the "
                          f"sample's video with --video {Path(skeleton_file).stem}_rgb.avi")
    params = load_params(params_file)
    settings = stage_settings(params_file, params)
    model, classes, config, device = load_model(spec, params_file, params, model_dir or paths.MODELS / model_name)
    stores = trained_stores(spec)
    check_against_stores(settings, stores, str(params_file))
    if spec.bind_stores is not None:
        config = spec.bind_stores(config, stores)
    batch, timings, cold = _timed_prepare(spec, config, settings, skeleton_file, video_file, device)
    with torch.no_grad():
        probabilities = torch.softmax(spec.predict(model, batch)["logits"], dim=1)[0].cpu().numpy()
    typer.echo(f"{Path(skeleton_file).name} ({model_name}, {device}):")
    for rank, k in enumerate(np.argsort(-probabilities, kind="stable")[:5], start=1):
        label = int(classes[k])
        typer.echo(f"  {rank}. A{label + 1:03d} {action_name(label):<36} {probabilities[k]:.3f}")
    single, batched = model_rates(spec, model, batch, repeat, device)
    total = timings.pop("total")
    steps = ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in timings.items())
    typer.echo(f"preprocessing {total * 1000:.0f} ms ({steps}) | model {1000 / single:.0f} ms  "
               f"(warm; the first preprocessing, loading libraries, took {cold * 1000:.0f} ms)")
    in_batches = "" if batched is None else f", {batched:.1f} in batches of 64"
    typer.echo(f"speed: {1 / (total + 1 / single):.1f} sequences/s with preprocessing; the model alone "
               f"{single:.1f} sequences/s one at a time{in_batches} ({torch.get_num_threads()} threads)")
