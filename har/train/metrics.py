"""Classification metrics from scores: top-k, per-class precision/recall/F1, confusion, appearance pairs."""
from __future__ import annotations

from typing import Sequence

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
    """Top-1/top-5, macro F1 and accuracy on each appearance-only pair (pairs as 1-based action ids)."""
    predicted = scores.argmax(axis=1)
    matrix = confusion_matrix(target, predicted, len(classes))
    report = per_class_report(matrix)
    out = {"top1": round(top_k_accuracy(scores, target, 1), 4),
           "top5": round(top_k_accuracy(scores, target, 5), 4),
           "macro_f1": round(float(np.mean([r["f1"] for r in report])), 4)}
    pair_results = {}
    for a, b in pairs:
        result = pair_accuracy(scores, target, classes, (a - 1, b - 1))
        if result is not None:
            pair_results[f"A{a:03d}-A{b:03d}"] = {"accuracy": round(result[0], 4), "samples": result[1]}
    if pair_results:
        out["appearance_pairs"] = pair_results
        out["appearance_pair_accuracy"] = round(float(np.mean([r["accuracy"] for r in pair_results.values()])), 4)
    return out
