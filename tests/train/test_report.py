"""The report states intervals and claims an improvement of a fused model only where its verdict says so."""
import re

import numpy as np

from har.train.metrics import bootstrap_indices, paired_comparison
from har.train.report import comparison_sentence, render_markdown


def _row(model: str, comparisons: dict, streams: dict) -> dict:
    return {"model": model, "paper": "a paper", "benchmark": "xsub", "test_samples": 382, "top1": 0.699,
            "top5": 0.95, "top1_ci95": [0.652, 0.745], "macro_f1": 0.69, "macro_f1_ci95": [0.64, 0.73],
            "streams": streams,
            "stream_intervals": {k: {"top1": v, "top1_ci95": [v - 0.05, v + 0.04]} for k, v in streams.items()},
            "comparisons": comparisons, "appearance_pair_accuracy": 0.6, "parameters": 1000,
            "gflops_per_sample": 0.1, "train_seconds": 10.0, "train_device": "cpu", "sequences_per_second": 50.0,
            "eval_device": "cpu"}


def _comparison(fused_only: int, stream_only: int, n: int = 382) -> dict:
    stream = np.zeros(n, bool)
    stream[:200] = True
    fused = stream.copy()
    fused[200:200 + fused_only] = True
    fused[200 - stream_only:200] = False
    return paired_comparison(fused, stream, bootstrap_indices(n, 2000, np.random.default_rng(0)))


def test_report_does_not_claim_an_insignificant_difference():
    noise = {"rgb": _comparison(21, 30), "skeleton": _comparison(12, 8)}
    assert {c["verdict"] for c in noise.values()} == {"no significant difference"}
    text = render_markdown([_row("amfi", noise, {"rgb": 0.723, "skeleton": 0.717}),
                            _row("glimpse", {}, {})])
    assert not re.search(r"\b(beats?|better|outperforms?|improves?)\b", text, re.IGNORECASE), text
    assert "no significant difference" in text
    assert "0.699 [0.652, 0.745]" in text  # top-1 with its interval
    assert "0.690 [0.640, 0.730]" in text  # macro-F1 with its interval
    assert "rgb 0.723 [0.673, 0.763]" in text  # a stream with its interval
    table = [line for line in text.splitlines() if line.startswith("| amfi | rgb |")]
    assert len(table) == 1 and "-0.024 [" in table[0] and "| 21 | 30 |" in table[0]


def test_report_claims_an_improvement_only_where_the_interval_is_above_zero():
    mixed = {"rgb": _comparison(100, 0), "skeleton": _comparison(12, 8), "pose": _comparison(0, 100)}
    assert [c["verdict"] for c in mixed.values()] == ["better", "no significant difference", "worse"]
    text = render_markdown([_row("das", mixed, {"rgb": 0.5, "skeleton": 0.6, "pose": 0.8})])
    lines = {line.split("|")[2].strip(): line for line in text.splitlines() if line.startswith("| das | ")}
    assert "fusion better" in lines["rgb"]
    assert "better" not in lines["skeleton"] and "no significant difference" in lines["skeleton"]
    assert "fusion worse" in lines["pose"] and "better" not in lines["pose"]
    sentence = comparison_sentence("das", mixed)
    assert "improves on rgb" in sentence and "worse than pose" in sentence
    assert "no significant difference from skeleton" in sentence
    assert "skeleton" not in sentence.split("improves on")[1].split(";")[0]
