"""Stages `train_<model>` and `evaluate_<model>`: feature stores -> data/models/<model>/ -> metrics and plots."""
from __future__ import annotations

from pathlib import Path

from har.io.store import write_json
from har.train.evaluate import EvalOutputs, EvaluateOptions, evaluate_model
from har.train.registry import MODELS
from har.train.run import train_model, write_training_curve
from pipeline import paths
from pipeline.params import load_params, section


def model_spec(name: str):
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name]


def train(name: str, params_file: Path, progress: bool = True) -> dict:
    spec = model_spec(name)
    config = section(spec.config_type, f"train_{name}", params_file)
    summary = train_model(spec, config, paths.FEATURE_STORES, paths.MODELS / name, paths.CHECKPOINTS / name,
                          progress)
    write_json(paths.METRICS / "timing" / f"{name}_train.json", summary)
    write_training_curve(paths.PLOTS / name / "training.csv", paths.MODELS / name / "history.json")
    return summary


def evaluate(name: str, params_file: Path) -> dict:
    spec = model_spec(name)
    params = load_params(params_file)
    config = section(spec.config_type, f"train_{name}", params_file, params)
    options = section(EvaluateOptions, "evaluate", params_file, params)
    out = EvalOutputs(metrics=paths.METRICS / f"{name}.json", confusion=paths.PLOTS / name / "confusion.csv",
                      pictures=paths.PLOTS / name / "samples",
                      timing=paths.METRICS / "timing" / f"{name}_eval.json")
    return evaluate_model(spec, config, options, paths.FEATURE_STORES, paths.MODELS / name, out,
                          summarize=spec.summarize)
