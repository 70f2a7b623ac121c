import numpy as np
import pytest

from har.train.metrics import (classification_metrics, confusion_matrix, pair_accuracy, per_class_report,
                               top_k_accuracy)


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
