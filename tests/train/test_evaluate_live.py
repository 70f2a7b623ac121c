import json

import numpy as np

from har.train.evaluate import log_confusion, log_evaluation
from har.train.run import open_live


def test_evaluation_logs_headline_metrics_and_confusion_to_dvclive(tmp_path):
    metrics = {"top1": 0.5, "top5": 1.0, "macro_f1": 0.4, "top1_ci95": [0.25, 0.75], "macro_f1_ci95": [0.1, 0.6],
               "per_class": {"A001": {"precision": 1.0}},
               "streams": {"rgb": {"top1": 0.25, "top5": 1.0, "macro_f1": 0.2, "top1_ci95": [0.0, 0.5]}}}
    extra = {"gate_mean": 0.3, "mean_part_weight": {"head": 0.2}, "attention_per_class": {"A001": {"x": 1.0}}}
    live = open_live(tmp_path / "eval")
    log_evaluation(live, metrics, extra)
    log_confusion(live, np.array([0, 1, 1]), np.array([0, 0, 1]), np.array([0, 5]), "t")
    live.end()
    saved = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert saved == {"top1": 0.5, "top5": 1.0, "macro_f1": 0.4, "top1_ci95": {"low": 0.25, "high": 0.75},
                     "macro_f1_ci95": {"low": 0.1, "high": 0.6}, "gate_mean": 0.3, "mean_part_weight": {"head": 0.2},
                     "streams": {"rgb": {"top1": 0.25, "top5": 1.0, "macro_f1": 0.2,
                                         "top1_ci95": {"low": 0.0, "high": 0.5}}}}
    confusion = json.loads((tmp_path / "eval/plots/sklearn/confusion_matrix.json").read_text())
    assert confusion == [{"actual": "A001", "predicted": "A001"}, {"actual": "A006", "predicted": "A001"},
                         {"actual": "A006", "predicted": "A006"}]
    assert sorted(p.name for p in (tmp_path / "eval").rglob("*") if p.is_file()) == \
        ["confusion_matrix.json", "metrics.json"]  # no dvc.yaml, report or params written
