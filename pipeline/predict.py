"""`har-prep predict`: classify one .skeleton file with a trained skeleton model and time it."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import typer

from har.builders.skeletons import SkeletonOptions, normalized_skeleton
from har.io.ntu_skeleton import read_skeleton
from har.layout import action_name
from har.train.registry import model_spec
from har.train.run import load_trained, pick_device
from har.transforms.denoise import DenoiseConfig, Track
from pipeline import paths
from pipeline.params import load_params, section


def skeleton_input(path: Path, options: SkeletonOptions,
                   denoise: DenoiseConfig = DenoiseConfig()) -> dict[str, torch.Tensor]:
    """A .skeleton file preprocessed exactly as the skeletons stage does: {'x': (1, M, T, V, 3), 'length'}."""
    parsed = read_skeleton(path)
    tracks = [Track(frames=t.frames, xyz=t.xyz, extra={}) for t in parsed.tracks]
    result = normalized_skeleton({"sample": path.name, "tracks": tracks}, options, denoise)
    if isinstance(result, str):
        raise typer.BadParameter(result)
    x, length = result
    return {"x": torch.from_numpy(x)[None], "length": torch.tensor([length])}


def sequences_per_second(model, inputs: dict, repeat: int) -> tuple[float, float]:
    """(one sequence at a time, batches of 64) classification rates of the model alone."""
    with torch.no_grad():
        model(**inputs)
        began = time.perf_counter()
        for _ in range(repeat):
            model(**inputs)
        single = repeat / (time.perf_counter() - began)
        batch = {k: v.repeat(64, *[1] * (v.dim() - 1)) for k, v in inputs.items()}
        model(**batch)
        began = time.perf_counter()
        for _ in range(max(1, repeat // 4)):
            model(**batch)
        batched = 64 * max(1, repeat // 4) / (time.perf_counter() - began)
    return single, batched


def run(skeleton_file: Path, model_name: str, model_dir: Path | None, params_file: Path, repeat: int) -> None:
    spec = model_spec(model_name)
    if spec.inputs != ("skeleton",):
        raise typer.BadParameter(f"model {model_name!r} needs {spec.inputs}; predict from a .skeleton file "
                                 f"works with skeleton-only models")
    params = load_params(params_file)
    config = section(spec.config_type, f"train_{model_name}", params_file, params)
    options = section(SkeletonOptions, "skeletons", params_file, params)
    denoise = section(DenoiseConfig, "denoise", params_file, params)
    device = pick_device(config.device)
    model, classes = load_trained(spec, config, model_dir or paths.MODELS / model_name, device)
    inputs = {k: v.to(device) for k, v in skeleton_input(skeleton_file, options, denoise).items()}
    with torch.no_grad():
        probabilities = torch.softmax(model(**inputs)["logits"], dim=1)[0].cpu().numpy()
    typer.echo(f"{skeleton_file.name} ({model_name}, {device}):")
    for rank, k in enumerate(np.argsort(-probabilities, kind="stable")[:5], start=1):
        label = int(classes[k])
        typer.echo(f"  {rank}. A{label + 1:03d} {action_name(label):<36} {probabilities[k]:.3f}")
    single, batched = sequences_per_second(model, inputs, repeat)
    typer.echo(f"speed: {single:.1f} sequences/s one at a time, {batched:.1f} sequences/s in batches of 64 "
               f"({torch.get_num_threads()} threads)")
