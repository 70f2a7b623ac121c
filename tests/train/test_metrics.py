import numpy as np
import pytest

from har.train.metrics import classification_metrics, confusion_matrix, pair_accuracy, per_class_report, top_k_accuracy


def test_top_k_and_confusion():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3], [0.5, 0.4, 0.1]])
    target = np.array([0, 1, 1, 1])
    assert top_k_accuracy(scores, target, 1) == 0.5
    assert top_k_accuracy(scores, target, 2) == 1.0
    matrix = confusion_matrix(target, scores.argmax(1), 3)
    assert matrix.tolist() == [[1, 0, 0], [1, 1, 1], [0, 0, 0]]
    report = per_class_report(matrix)
    assert report[0] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(0.6667, abs=1e-4), "support": 1}
    assert report[2]["precision"] == 0.0 and report[2]["support"] == 0


def test_pair_accuracy_is_binary_within_the_pair():
    classes = np.array([0, 10, 11])  # NTU labels of the score columns (A001, A011, A012)
    scores = np.array([[5.0, 1.0, 0.0], [5.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 3.0, 4.0]])
    target = np.array([1, 2, 1, 0])
    # samples 0..2 belong to the pair (A011, A012): sample 0 true A011, A011 > A012 -> right;
    # sample 1 true A012, A012 > A011 -> right; sample 2 true A011, right.
    assert pair_accuracy(scores, target, classes, (10, 11)) == (1.0, 3)
    assert pair_accuracy(scores, target, classes, (10, 40)) is None
    metrics = classification_metrics(scores, target, classes, pairs=[(11, 12), (1, 2)])
    assert metrics["appearance_pairs"] == {"A011-A012": {"accuracy": 1.0, "samples": 3}}
    assert metrics["top1"] == 0.25


# --- bootstrap intervals and paired comparisons -------------------------------------------------------------------
from types import SimpleNamespace  # noqa: E402

from har.train.metrics import (  # noqa: E402
    bootstrap_indices,
    bootstrap_intervals,
    macro_f1,
    mcnemar_exact_p,
    paired_comparison,
    resampled_macro_f1,
    uncertainty,
    verdict,
)


def _scores_from(predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(N,) predicted classes -> (N, C) one-hot scores."""
    return np.eye(num_classes)[predicted]


def _model(n: int, accuracy: float, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N, C) right on about `accuracy` of n samples, and their targets (N,)."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, num_classes, n)
    wrong = rng.random(n) > accuracy
    predicted = np.where(wrong, (target + rng.integers(1, num_classes, n)) % num_classes, target)
    return _scores_from(predicted, num_classes), target


def test_interval_covers_the_point_estimate_and_shrinks_with_more_samples():
    widths = {}
    for n in (100, 400, 3000):
        scores, target = _model(n, 0.7, 10, seed=n)
        point = classification_metrics(scores, target, np.arange(10))
        found = bootstrap_intervals(scores, target, bootstrap_indices(n, 2000, np.random.default_rng(0)))
        for key in ("top1", "macro_f1"):
            low, high = found[f"{key}_ci95"]
            assert low < point[key] < high, (n, key, point[key], low, high)
        widths[n] = found["top1_ci95"][1] - found["top1_ci95"][0]
    assert widths[100] > widths[400] > widths[3000]
    # about 2 · 1.96 · sqrt(p(1 - p) / n) for a proportion
    assert widths[400] == pytest.approx(2 * 1.96 * np.sqrt(0.7 * 0.3 / 400), rel=0.2)


def test_bootstrap_is_seeded_and_deterministic():
    scores, target = _model(382, 0.7, 12, seed=1)
    first = bootstrap_intervals(scores, target, bootstrap_indices(382, 2000, np.random.default_rng(7)))
    again = bootstrap_intervals(scores, target, bootstrap_indices(382, 2000, np.random.default_rng(7)))
    other = bootstrap_intervals(scores, target, bootstrap_indices(382, 2000, np.random.default_rng(8)))
    assert first == again
    assert first != other
    indices = bootstrap_indices(5, 3, np.random.default_rng(0))
    assert indices.shape == (3, 5) and indices.min() >= 0 and indices.max() < 5


def test_resampled_macro_f1_matches_a_direct_computation():
    scores, target = _model(60, 0.6, 5, seed=3)
    predicted = scores.argmax(1)
    indices = bootstrap_indices(60, 50, np.random.default_rng(0))
    vectorised = resampled_macro_f1(target, predicted, 5, indices, chunk_elements=7 * 60)  # several chunks
    for r, rows in enumerate(indices):
        matrix = confusion_matrix(target[rows], predicted[rows], 5)
        tp, actual, guessed = np.diag(matrix), matrix.sum(1), matrix.sum(0)
        present = (actual + guessed) > 0
        f1 = [2 * tp[c] / (actual[c] + guessed[c]) for c in range(5) if present[c]]
        assert vectorised[r] == pytest.approx(np.mean(f1))
    # with every class present, the same as the mean of the per-class report
    report = per_class_report(confusion_matrix(target, predicted, 5))
    assert macro_f1(target, predicted, 5) == pytest.approx(np.mean([r["f1"] for r in report]), abs=1e-4)


def test_a_model_identical_to_its_stream_shows_no_difference():
    scores, target = _model(382, 0.7, 12, seed=2)
    correct = scores.argmax(1) == target
    result = paired_comparison(correct, correct.copy(), bootstrap_indices(382, 2000, np.random.default_rng(0)))
    assert result == {"diff": 0.0, "ci95": [0.0, 0.0], "mcnemar_p": 1.0, "fused_only_correct": 0,
                      "stream_only_correct": 0, "verdict": "no significant difference"}


def test_a_model_right_on_100_more_samples_is_better():
    stream = np.zeros(382, bool)
    stream[:200] = True
    fused = stream.copy()
    fused[200:300] = True
    indices = bootstrap_indices(382, 2000, np.random.default_rng(0))
    result = paired_comparison(fused, stream, indices)
    assert result["verdict"] == "better"
    assert result["diff"] == pytest.approx(100 / 382, abs=1e-4)
    assert result["fused_only_correct"] == 100 and result["stream_only_correct"] == 0
    assert result["mcnemar_p"] < 1e-25
    assert result["ci95"][0] > 0
    reverse = paired_comparison(stream, fused, indices)
    assert reverse["verdict"] == "worse" and reverse["ci95"][1] < 0


def test_a_few_points_of_difference_on_382_samples_is_noise():
    # the case: 0.699 fused vs 0.723 stream, the two models disagreeing on 60 samples
    stream = np.zeros(382, bool)
    stream[:276] = True  # 0.723
    fused = stream.copy()
    fused[246:276] = False  # 30 samples only the stream gets right
    fused[276:297] = True  # 21 samples only the fused model gets right -> 267 / 382 = 0.699
    result = paired_comparison(fused, stream, bootstrap_indices(382, 2000, np.random.default_rng(0)))
    assert result["diff"] == pytest.approx(-9 / 382, abs=1e-4)
    assert result["ci95"][0] < 0 < result["ci95"][1]
    assert result["verdict"] == "no significant difference" and result["mcnemar_p"] > 0.05


def test_mcnemar_exact_p_agrees_with_scipy():
    from scipy.stats import binomtest
    for only_fused, only_stream in ((5, 3), (100, 0), (40, 60), (7, 7), (0, 1), (310, 250)):
        expected = binomtest(only_fused, only_fused + only_stream, 0.5).pvalue
        assert mcnemar_exact_p(only_fused, only_stream) == pytest.approx(expected, rel=1e-9)
    assert mcnemar_exact_p(0, 0) == 1.0


def test_verdict_needs_the_whole_interval_on_one_side():
    assert verdict([0.001, 0.05]) == "better"
    assert verdict([-0.05, -0.001]) == "worse"
    assert verdict([0.0, 0.05]) == "no significant difference"
    assert verdict([-0.02, 0.03]) == "no significant difference"


def test_uncertainty_pairs_every_stream_on_the_same_resamples():
    scores, target = _model(200, 0.7, 8, seed=4)
    outputs = {"logits": scores, "rgb": scores.copy(), "pose": _model(200, 0.5, 8, seed=5)[0]}
    found = uncertainty(outputs, target, ("rgb", "pose", "absent"), 500, np.random.default_rng(0))
    assert set(found["streams"]) == set(found["comparisons"]) == {"rgb", "pose"}
    assert found["streams"]["rgb"] == found["fused"]  # same predictions, same resamples -> same interval
    assert found["comparisons"]["rgb"]["verdict"] == "no significant difference"
    assert found["bootstrap"] == {"method": "percentile", "level": 0.95, "resamples": 500, "test_samples": 200}
    with pytest.raises(ValueError, match="predictions for"):
        uncertainty({"logits": scores, "rgb": scores[:10]}, target, ("rgb",), 100, np.random.default_rng(0))


def test_evaluate_writes_intervals_and_comparisons_for_every_stream():
    from har.train.evaluate import EvaluateOptions, uncertainty_metrics
    scores, target = _model(150, 0.8, 6, seed=6)
    outputs = {"logits": scores, "target": target, "rgb": _model(150, 0.6, 6, seed=7)[0], "index": np.arange(150)}
    spec = SimpleNamespace(name="fake", stream_keys=("rgb",))
    options = EvaluateOptions(bootstrap_resamples=300, bootstrap_seed=3)
    found = uncertainty_metrics(spec, outputs, np.arange(6), options)
    assert set(found) == {"top1_ci95", "macro_f1_ci95", "bootstrap", "streams", "comparisons"}
    assert {"top1", "top1_ci95", "macro_f1", "macro_f1_ci95"} <= set(found["streams"]["rgb"])
    assert set(found["comparisons"]["rgb"]) == {"diff", "ci95", "mcnemar_p", "fused_only_correct",
                                                "stream_only_correct", "verdict"}
    assert found["bootstrap"]["seed"] == 3 and found["bootstrap"]["resamples"] == 300
    assert uncertainty_metrics(spec, outputs, np.arange(6), options) == found
    with pytest.raises(KeyError, match="pose"):
        uncertainty_metrics(SimpleNamespace(name="fake", stream_keys=("pose",)), outputs, np.arange(6), options)
    with pytest.raises(ValueError, match="bootstrap_resamples"):
        EvaluateOptions(bootstrap_resamples=10)
