"""Stages `train_<model>` and `evaluate_<model>`: feature stores -> data/models/<model>/ -> metrics and plots."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from har.config import ConfigError
from har.io.store import open_store, write_json
from har.train.registry import model_spec
from pipeline import paths
from pipeline.params import load_params, section

# The training and evaluation code is imported inside each function, so a train stage does not load (and need not
# list as a DVC dep) the evaluation code, and the other way round.


def stage_config(spec, params_file: Path, params: dict | None = None):
    """The model's `train_<model>` section, checked at stage start against the feature stores it reads (frame
    counts, sizes, persons... as their producers recorded them) and bound to what it reads from them (EPAM's heatmap
    rendering). A disagreement raises har.config.ConfigError naming both keys, before any data is read."""
    config = section(spec.config_type, f"train_{spec.name}", params_file, params)
    store_paths = model_stores(spec, config, params_file)
    if spec.bind_stores is None:
        return config
    return spec.bind_stores(config, {store: open_store(path) for store, path in store_paths.items()})


def model_stores(spec, config, params_file: Path) -> dict[str, Path]:
    """store -> path of the variants `train_<model>.stores` names (pipeline.params checks them when params load;
    this guards a config built elsewhere)."""
    if set(config.stores) != set(spec.inputs):
        raise ConfigError(f"{params_file}:train_{spec.name}.stores: expected the variant of each store the model "
                          f"reads ({', '.join(spec.inputs)}), got {dict(config.stores)!r}")
    return paths.feature_stores({store: config.stores[store] for store in spec.inputs})


def relaunch_under_torchrun(name: str, params_file: Path, arguments: list[str]) -> None:
    """Re-run this `har-prep` command (`arguments`: its command-line arguments) as torchrun's
    train_<name>.nproc processes when nproc > 1 and this process is not one torchrun started (so the DVC stage
    command stays `har-prep train <model>`); returns when no launch is needed."""
    from har.train import distributed
    from har.train.run import check_batch_sizes
    spec = model_spec(name)
    config = section(spec.config_type, f"train_{name}", params_file)
    if isinstance(config.nproc, int) and config.nproc > 1:
        check_batch_sizes(spec, config, config.nproc)  # before starting the processes
    command = distributed.torchrun_command(config.nproc, [sys.executable, "-m", "pipeline.cli", *arguments],
                                           key=f"{params_file}:train_{name}.nproc")
    if command is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)


def train(name: str, params_file: Path, progress: bool = True) -> dict | None:
    """Train a model; under torchrun every rank trains, rank 0 writes and returns the summary (others: None)."""
    from har.train import distributed
    from har.train.run import train_model
    spec = model_spec(name)
    config = stage_config(spec, params_file)
    summary = train_model(spec, config, model_stores(spec, config, params_file), paths.MODELS / name,
                          paths.CHECKPOINTS / name, progress, live_dir=paths.LIVE / name / "train")
    if not distributed.is_main():
        return None
    write_json(paths.METRICS / "timing" / f"{name}_train.json", summary)
    return summary


def evaluate(name: str, params_file: Path) -> dict | None:
    from har.train.evaluate import EvalOutputs, EvaluateOptions, evaluate_model
    spec = model_spec(name)
    params = load_params(params_file)
    config = stage_config(spec, params_file, params)
    options = section(EvaluateOptions, "evaluate", params_file, params)
    out = EvalOutputs(metrics=paths.METRICS / f"{name}.json", live=paths.LIVE / name / "eval",
                      pictures=paths.PLOTS / name / "samples",
                      timing=paths.METRICS / "timing" / f"{name}_eval.json")
    return evaluate_model(spec, config, options, model_stores(spec, config, params_file), paths.MODELS / name, out,
                          summarize=spec.summarize)
