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
from har.builders.skeletons import SkeletonOptions
from har.config import ConfigError, from_mapping
from har.errors import MissingArtifactError
from har.io.store import open_store
from har.layout import action_name
from har.train.precision import Precision, inference
from har.train.registry import model_spec
from har.train.run import load_trained, pick_device
from har.transforms.denoise import DenoiseConfig
from pipeline import paths
from pipeline.params import load_params, section, variant_settings
from pipeline.train import model_stores


def stage_settings(params_file: Path, params: dict, spec, config) -> StageSettings:
    """The data stages' settings: the variants of the stores the model reads (`train_<model>.stores`)."""
    from pipeline import heatmaps as heatmap_stage
    from pipeline import video as video_stage
    chosen, views = config.stores, {}
    values = {"denoise": section(DenoiseConfig, "denoise", params_file, params)}
    if "skeleton" in chosen:
        values["skeletons"] = from_mapping(SkeletonOptions, variant_settings(
            params, "skeletons", chosen["skeleton"], params_file),
            f"{params_file}:skeletons.variants.{chosen['skeleton']}")
    if "heatmaps" in chosen:
        values["heatmaps"], view, views[view] = heatmap_stage.variant_options(params, chosen["heatmaps"], params_file)
    for store in (s for s in spec.inputs if STAGES[s] == "video"):
        values["video"], _, view, views[view] = video_stage.variant_options(params, chosen[store], params_file)
    if len(views) > 1:
        raise ConfigError(f"{params_file}:train_{spec.name}.stores: its heatmaps and video variants name different "
                          f"pose views ({', '.join(views)}); they must share one")
    if views:
        values["poses"] = next(iter(views.values()))
    return StageSettings(**values)


def trained_stores(spec, config, params_file: Path) -> dict:
    """The feature stores the model was trained on, opened (a missing one names how to get it)."""
    stores = {}
    for store, path in model_stores(spec, config, params_file).items():
        stage = f"{STAGES[store]}@{config.stores[store]}"
        if not (path / "zarr.json").exists():
            raise MissingArtifactError(f"{path}: missing; predict preprocesses as this store (which model "
                                       f"{spec.name!r} was trained on) was built and checks the params against "
                                       f"it: get it with `dvc pull {stage}` or `dvc repro {stage}`")
        stores[store] = open_store(path)
    return stores


class _Settings:
    """A store's attrs with its params record reduced to settings: the variant bookkeeping it also records (the
    variant's and its pose view's names, the stores a video variant writes) is not a preprocessing setting."""

    def __init__(self, group):
        attrs = dict(group.attrs)
        record = {name: {k: v for k, v in values.items() if k not in ("variant", "stores")}
                  if isinstance(values, dict) else values
                  for name, values in (attrs.get("params") or {}).items() if name != "variant"}
        self.attrs = {**attrs, "params": record}


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


def model_rates(spec, model, batch: dict, repeat: int, device: torch.device,
                precision: Precision | None = None) -> tuple[float, float | None]:
    """(one sequence at a time, batches of 64) classification rates of the model alone (its test forward, under
    `precision`'s autocast), over `repeat` single calls and repeat // 4 batches (None with fewer than 4
    repetitions)."""
    with inference(precision):
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
    model, classes, config, device = load_model(spec, params_file, params, model_dir or paths.MODELS / model_name)
    settings = stage_settings(params_file, params, spec, config)
    stores = trained_stores(spec, config, params_file)
    check_against_stores(settings, {store: _Settings(group) for store, group in stores.items()}, str(params_file))
    if spec.bind_stores is not None:
        config = spec.bind_stores(config, stores)
    batch, timings, cold = _timed_prepare(spec, config, settings, skeleton_file, video_file, device)
    precision = Precision.of(config, device, spec.image_inputs)  # the evaluation's autocast and layout
    model, batch = precision.prepare_model(model), precision.prepare_batch(batch)
    with inference(precision):
        probabilities = torch.softmax(spec.predict(model, batch)["logits"].float(), dim=1)[0].cpu().numpy()
    typer.echo(f"{Path(skeleton_file).name} ({model_name}, {device}):")
    for rank, k in enumerate(np.argsort(-probabilities, kind="stable")[:5], start=1):
        label = int(classes[k])
        typer.echo(f"  {rank}. A{label + 1:03d} {action_name(label):<36} {probabilities[k]:.3f}")
    single, batched = model_rates(spec, model, batch, repeat, device, precision)
    total = timings.pop("total")
    steps = ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in timings.items())
    typer.echo(f"preprocessing {total * 1000:.0f} ms ({steps}) | model {1000 / single:.0f} ms  "
               f"(warm; the first preprocessing, loading libraries, took {cold * 1000:.0f} ms)")
    in_batches = "" if batched is None else f", {batched:.1f} in batches of 64"
    typer.echo(f"speed: {1 / (total + 1 / single):.1f} sequences/s with preprocessing; the model alone "
               f"{single:.1f} sequences/s one at a time{in_batches} ({torch.get_num_threads()} threads)")
