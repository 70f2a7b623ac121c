"""Stage `report`: one table of all trained models -> data/reports/summary.md and summary.json."""
from __future__ import annotations

from pathlib import Path

from har.train.registry import MODELS, model_spec
from har.train.report import model_row, write_report
from pipeline import paths
from pipeline.params import load_params, section
from pipeline.train import model_stores


def run(params_file: Path, models: list[str] | None = None) -> list[dict]:
    params = load_params(params_file)
    rows = []
    for name in models or list(MODELS):
        spec = model_spec(name)
        config = section(spec.config_type, f"train_{name}", params_file, params)
        timing = paths.METRICS / "timing"
        rows.append(model_row(spec, config, model_stores(spec, config, params_file), paths.MODELS / name,
                              paths.METRICS / f"{name}.json", timing / f"{name}_train.json",
                              timing / f"{name}_eval.json"))
    write_report(rows, paths.REPORTS / "summary.md", paths.REPORTS / "summary.json")
    return rows
