"""Classification metrics from scores: top-k, per-class precision/recall/F1, confusion, appearance pairs, and
their uncertainty: bootstrap intervals and paired comparisons (bootstrap + exact McNemar) of a model with its
streams."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def top_k_accuracy(scores: np.ndarray, target: np.ndarray, k: int) -> float:
    """scores: (N, C); target: (N,) class indices."""
    if len(target) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == target[:, None], axis=1)))


def confusion_matrix(target: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (target, predicted), 1)
    return matrix


def per_class_report(matrix: np.ndarray) -> list[dict]:
    """Precision, recall, F1 and support per class (0 where undefined, as a count of nothing)."""
    true_positive = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    rows = []
    for c in range(len(matrix)):
        precision = true_positive[c] / predicted[c] if predicted[c] else 0.0
        recall = true_positive[c] / actual[c] if actual[c] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                     "support": int(actual[c])})
    return rows


def pair_accuracy(scores: np.ndarray, target: np.ndarray, classes: np.ndarray,
                  pair: Sequence[int]) -> tuple[float, int] | None:
    """Accuracy of telling the two labels of `pair` apart on the samples of either (binary; chance = 0.5).

    classes: (C,) the 0-based NTU label of each score column; pair: two 0-based labels. None when a label of
    the pair is not among the classes or no test sample belongs to the pair.
    """
    columns = [int(np.flatnonzero(classes == label)[0]) for label in pair if label in classes]
    if len(columns) != 2:
        return None
    mine = np.isin(target, columns)
    if not mine.any():
        return None
    choice = np.where(scores[mine][:, columns[0]] >= scores[mine][:, columns[1]], columns[0], columns[1])
    return float(np.mean(choice == target[mine])), int(mine.sum())


def classification_metrics(scores: np.ndarray, target: np.ndarray, classes: np.ndarray,
                           pairs: Sequence[Sequence[int]] = ()) -> dict:
    """Top-1/top-5, macro F1 and accuracy on each appearance-only pair (pairs as 1-based action ids).

    scores: (N, C); target: (N,) class indices; classes: (C,) 0-based NTU labels of the score columns. Macro F1 is
    the mean over the classes present in the targets or predictions (`macro_f1`).
    """
    predicted = scores.argmax(axis=1)
    out = {"top1": round(top_k_accuracy(scores, target, 1), 4),
           "top5": round(top_k_accuracy(scores, target, 5), 4),
           "macro_f1": round(macro_f1(target, predicted, len(classes)), 4)}
    pair_results = {}
    for a, b in pairs:
        result = pair_accuracy(scores, target, classes, (a - 1, b - 1))
        if result is not None:
            pair_results[f"A{a:03d}-A{b:03d}"] = {"accuracy": round(result[0], 4), "samples": result[1]}
    if pair_results:
        out["appearance_pairs"] = pair_results
        out["appearance_pair_accuracy"] = round(float(np.mean([r["accuracy"] for r in pair_results.values()])), 4)
    return out


# --- Uncertainty: bootstrap intervals and paired comparisons on the same test samples -----------------------------
# Every function below is pure: randomness comes only from the `indices` drawn once by `bootstrap_indices` (seeded
# Generator), so the fused model, each of its streams and every paired difference are resampled identically.

CI_LEVEL = 0.95
VERDICTS = ("better", "worse", "no significant difference")


def bootstrap_indices(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n) int64 indices into the n test samples, drawn with replacement; row r is resample r."""
    if n < 1 or resamples < 1:
        raise ValueError(f"bootstrap needs at least one sample and one resample, got n={n}, resamples={resamples}")
    return rng.integers(0, n, size=(resamples, n), dtype=np.int64)


def percentile_interval(statistics: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """statistics: (R,) one bootstrap statistic per resample -> (low, high) percentile interval at `level`."""
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(statistics, [tail, 100 - tail])
    return float(low), float(high)


def resampled_mean(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """values: (N,) per-sample numbers (e.g. 0/1 correctness); indices: (R, N) -> (R,) mean of each resample."""
    return values.astype(np.float64)[indices].mean(axis=1)


def resampled_macro_f1(target: np.ndarray, predicted: np.ndarray, num_classes: int, indices: np.ndarray,
                       chunk_elements: int = 1 << 22) -> np.ndarray:
    """Macro F1 of every resample: target, predicted (N,) class indices; indices (R, N) -> (R,).

    F1_c = 2·TP_c / (n_true_c + n_predicted_c); the mean is over the classes that occur in the resample's targets
    or predictions (scikit-learn's default): a class drawn by neither says nothing about the model. Vectorised with
    one bincount per chunk of resamples (chunks bound the memory to about `chunk_elements` indices).
    """
    out = np.empty(len(indices), np.float64)
    rows = max(1, chunk_elements // max(1, indices.shape[1]))
    for start in range(0, len(indices), rows):
        block = indices[start:start + rows]  # (r, N)
        offset = np.arange(len(block))[:, None] * num_classes
        true = target[block] + offset  # (r, N) class index, made unique per resample
        guess = predicted[block] + offset
        size = len(block) * num_classes
        hit = target[block] == predicted[block]
        tp = np.bincount(true[hit], minlength=size).reshape(-1, num_classes)
        both = (np.bincount(true.ravel(), minlength=size) + np.bincount(guess.ravel(), minlength=size)).reshape(
            -1, num_classes)  # (r, C) n_true + n_predicted
        f1 = 2.0 * tp / np.maximum(both, 1)
        out[start:start + len(block)] = f1.sum(axis=1) / np.maximum((both > 0).sum(axis=1), 1)
    return out


def macro_f1(target: np.ndarray, predicted: np.ndarray, num_classes: int) -> float:
    """Macro F1 of (N,) targets and predictions, as `resampled_macro_f1` on the test split itself."""
    if len(target) == 0:
        return float("nan")
    return float(resampled_macro_f1(target, predicted, num_classes, np.arange(len(target))[None])[0])


def _interval(statistics: np.ndarray, level: float = CI_LEVEL) -> list[float]:
    low, high = percentile_interval(statistics, level)
    return [round(low, 4), round(high, 4)]


def bootstrap_intervals(scores: np.ndarray, target: np.ndarray, indices: np.ndarray,
                        level: float = CI_LEVEL) -> dict:
    """95 % percentile-bootstrap intervals of top-1 and macro F1.

    scores: (N, C) class scores; target: (N,) class indices; indices: (R, N) from `bootstrap_indices`.
    Returns {"top1_ci95": [low, high], "macro_f1_ci95": [low, high]} (rounded to 4 digits).
    """
    predicted = scores.argmax(axis=1)
    return {"top1_ci95": _interval(resampled_mean(predicted == target, indices), level),
            "macro_f1_ci95": _interval(resampled_macro_f1(target, predicted, scores.shape[1], indices), level)}


def mcnemar_exact_p(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p: binomial test of `only_first` successes in the discordant pairs at 0.5.

    only_first: samples the first model gets right and the second wrong; only_second: the reverse. 1.0 when there
    is no discordant pair. Exact integer arithmetic, so tiny p-values (1e-30) do not underflow to 0 first.
    """
    from fractions import Fraction

    n, k = only_first + only_second, min(only_first, only_second)
    if n == 0:
        return 1.0
    term, total = 1, 1  # comb(n, 0); then comb(n, i) built incrementally
    for i in range(k):
        term = term * (n - i) // (i + 1)
        total += term
    tail = Fraction(total, 2 ** n)
    return float(min(Fraction(1), 2 * tail))


def verdict(interval: Sequence[float]) -> str:
    """"better" when the whole interval of (fused − stream) lies above 0, "worse" below, else no difference."""
    low, high = interval
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no significant difference"


def paired_comparison(fused_correct: np.ndarray, stream_correct: np.ndarray, indices: np.ndarray,
                      level: float = CI_LEVEL) -> dict:
    """Fused model vs one of its streams on the same test samples.

    fused_correct, stream_correct: (N,) bool, sample i of both is the same test sample; indices: (R, N), the same
    resamples as every other interval of the model (paired bootstrap: each resample keeps the pairs together).
    Returns diff = top-1(fused) − top-1(stream), its interval `ci95`, the exact McNemar p on the discordant
    pairs, their counts, and the verdict ("better" only when the interval lies above 0).
    """
    fused_correct, stream_correct = np.asarray(fused_correct, bool), np.asarray(stream_correct, bool)
    if fused_correct.shape != stream_correct.shape:
        raise ValueError(f"paired comparison needs the same samples: {fused_correct.shape} vs {stream_correct.shape}")
    difference = fused_correct.astype(np.int8) - stream_correct.astype(np.int8)  # (N,) in {-1, 0, 1}
    fused_only, stream_only = int((difference > 0).sum()), int((difference < 0).sum())
    interval = _interval(resampled_mean(difference, indices), level)
    p = mcnemar_exact_p(fused_only, stream_only)
    return {"diff": round(float(difference.mean()), 4), "ci95": interval, "mcnemar_p": float(f"{p:.4g}"),
            "fused_only_correct": fused_only, "stream_only_correct": stream_only, "verdict": verdict(interval)}


def uncertainty(outputs: dict[str, np.ndarray], target: np.ndarray, stream_keys: Sequence[str],
                resamples: int, rng: np.random.Generator, level: float = CI_LEVEL) -> dict:
    """Intervals of the fused model and of every stream, and the paired comparison of the fused model with each.

    outputs: "logits" (N, C) and each stream key (N, C), row i of every array the same test sample (one forward
    pass); target: (N,). One set of (resamples, N) indices is drawn from `rng` and shared by everything.
    Returns {"fused": {...intervals}, "streams": {key: {...intervals}}, "comparisons": {key: {...}},
    "bootstrap": {how it was drawn}}.
    """
    indices = bootstrap_indices(len(target), resamples, rng)
    fused_correct = outputs["logits"].argmax(axis=1) == target
    streams, comparisons = {}, {}
    for key in stream_keys:
        if key not in outputs:
            continue
        if len(outputs[key]) != len(target):
            raise ValueError(f"stream {key!r} has {len(outputs[key])} predictions for {len(target)} test samples")
        streams[key] = bootstrap_intervals(outputs[key], target, indices, level)
        comparisons[key] = paired_comparison(fused_correct, outputs[key].argmax(axis=1) == target, indices, level)
    return {"fused": bootstrap_intervals(outputs["logits"], target, indices, level), "streams": streams,
            "comparisons": comparisons,
            "bootstrap": {"method": "percentile", "level": level, "resamples": int(resamples),
                          "test_samples": int(len(target))}}
