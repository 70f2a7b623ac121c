"""Stages `train_<model>` and `evaluate_<model>`: feature stores -> data/models/<model>/ -> metrics and plots."""
from __future__ import annotations

from pathlib import Path

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
    if spec.bind_stores is None:
        return config
    stores = {store: open_store(paths.FEATURE_STORES[store]) for store in spec.inputs}
    return spec.bind_stores(config, stores)


def train(name: str, params_file: Path, progress: bool = True) -> dict:
    from har.train.run import train_model
    spec = model_spec(name)
    config = stage_config(spec, params_file)
    summary = train_model(spec, config, paths.FEATURE_STORES, paths.MODELS / name, paths.CHECKPOINTS / name,
                          progress, live_dir=paths.LIVE / name / "train")
    write_json(paths.METRICS / "timing" / f"{name}_train.json", summary)
    return summary


def evaluate(name: str, params_file: Path) -> dict:
    from har.train.evaluate import EvalOutputs, EvaluateOptions, evaluate_model
    spec = model_spec(name)
    params = load_params(params_file)
    config = stage_config(spec, params_file, params)
    options = section(EvaluateOptions, "evaluate", params_file, params)
    out = EvalOutputs(metrics=paths.METRICS / f"{name}.json", live=paths.LIVE / name / "eval",
                      pictures=paths.PLOTS / name / "samples",
                      timing=paths.METRICS / "timing" / f"{name}_eval.json")
    return evaluate_model(spec, config, options, paths.FEATURE_STORES, paths.MODELS / name, out,
                          summarize=spec.summarize)
