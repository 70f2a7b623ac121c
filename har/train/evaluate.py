"""Evaluate a trained model on the benchmark's test split: metrics, confusion data, pictures, throughput.

The detailed metrics (per class, paired comparisons, model statistics) go to one JSON file; the headline metrics
and the confusion matrix (and a model's own plots) are logged with dvclive, whose metrics.json `dvc exp show`
lists and whose plots `dvc plots show` renders.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from har.io.store import atomic_dir, write_json
from har.layout import action_name
from har.train import distributed
from har.train.data import FeatureDataset, SampleCache, loader_workers
from har.train.metrics import classification_metrics, uncertainty
from har.train.precision import Precision, inference
from har.train.run import load_trained, make_loader, open_inputs, open_live, pick_device, trained_model_file
from har.train.spec import ModelSpec
from har.viz import montage, stick_figure, with_caption, write_png

# Appearance-only pairs of the synthetic default data (1-based action ids); absent pairs are skipped.
DEFAULT_PAIRS = ((1, 3), (11, 12), (29, 30), (31, 32))


@dataclass(frozen=True)
class EvaluateOptions:
    pictures: int = 6  # test samples drawn with true and predicted labels
    appearance_pairs: tuple[tuple[int, int], ...] = DEFAULT_PAIRS
    # 95 % percentile-bootstrap intervals (top-1, macro F1) and paired comparisons of a fused model with its streams
    bootstrap_resamples: int = 2000
    bootstrap_seed: int = 0

    def __post_init__(self):
        if self.bootstrap_resamples < 100:
            raise ValueError(f"evaluate.bootstrap_resamples must be at least 100, got {self.bootstrap_resamples}")


@dataclass(frozen=True)
class EvalOutputs:
    metrics: Path  # data/metrics/<model>.json (every metric, nested)
    live: Path  # data/live/<model>/eval: dvclive's metrics.json (headline) and plots/ (confusion matrix, ...)
    pictures: Path  # data/plots/<model>/samples/ (PNG)
    timing: Path  # data/metrics/timing/<model>_eval.json (not deterministic: kept apart)


def collect_outputs(spec: ModelSpec, model, loader, device,
                    precision: Precision | None = None) -> tuple[dict[str, np.ndarray], float]:
    """Concatenated model outputs over a loader (plus 'target' and 'index') and the pure model seconds; the
    forward runs under `precision`'s autocast and layout (None: fp32), the outputs are returned as float32."""
    parts: dict[str, list] = {}
    seconds = 0.0
    with inference(precision):
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            batch = precision.prepare_batch(batch) if precision is not None else batch
            began = time.perf_counter()
            outputs = spec.predict(model, batch)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds += time.perf_counter() - began
            for key, value in {**outputs, "target": batch["target"], "index": batch["index"]}.items():
                parts.setdefault(key, []).append(value.float().cpu().numpy() if key not in ("target", "index")
                                                 else value.cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}, seconds


def _pictures(stores, outputs: dict, classes: np.ndarray, count: int, folder: Path) -> None:
    chosen = np.linspace(0, len(outputs["index"]) - 1, min(count, len(outputs["index"]))).round().astype(int)
    images = []
    for k in chosen:
        i = int(outputs["index"][k])
        arrays = stores.read(i)
        truth = action_name(int(stores.meta["label"][i]))
        guess = action_name(int(classes[outputs["logits"][k].argmax()]))
        lines = [str(stores.meta["sample"][i]), f"true: {truth}", f"pred: {guess}"]
        if "x" in arrays:
            middle = max(0, int(arrays["length"]) // 2)
            images.append(stick_figure(arrays["x"][:, middle], 260, lines))
        else:
            clip = arrays["clips"]
            frame = np.ascontiguousarray(clip[len(clip) // 2][..., ::-1])
            images.append(with_caption(_fit(frame, 260), lines))
    with atomic_dir(folder) as tmp:
        for n, image in enumerate(images):
            write_png(tmp / f"sample_{n:02d}.png", image)
        write_png(tmp / "montage.png", montage(images, columns=3))


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    import cv2
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_NEAREST)


HEADLINE = ("top1", "top5", "macro_f1", "appearance_pair_accuracy")


def log_evaluation(live, metrics: dict, extra: dict) -> None:
    """Headline metrics as dvclive metrics (no plot): top1, top5, macro_f1, appearance-pair accuracy and the 95 %
    intervals (`top1_ci95/low`, `top1_ci95/high`, `macro_f1_ci95/...`) of the fused model and of each stream
    (`streams/<key>/...`), and the model's own statistics in `extra` (scalars, or dicts of scalars one level deep)."""
    def entry(prefix: str, values: dict) -> None:
        for key in HEADLINE:
            if key in values:
                live.log_metric(f"{prefix}{key}", values[key], plot=False)
        for key in ("top1_ci95", "macro_f1_ci95"):
            if key in values:
                low, high = values[key]
                live.log_metric(f"{prefix}{key}/low", low, plot=False)
                live.log_metric(f"{prefix}{key}/high", high, plot=False)

    entry("", metrics)
    for stream, values in metrics.get("streams", {}).items():
        entry(f"streams/{stream}/", values)
    scalar = (int, float, np.integer, np.floating)
    for key, value in extra.items():
        if isinstance(value, scalar):
            live.log_metric(key, value, plot=False)
        elif isinstance(value, dict) and value and all(isinstance(v, scalar) for v in value.values()):
            for sub, v in value.items():
                live.log_metric(f"{key}/{sub}", v, plot=False)


def log_confusion(live, target: np.ndarray, predicted: np.ndarray, classes: np.ndarray, title: str) -> None:
    """target, predicted: (N,) class indices into classes -> dvclive's confusion_matrix plot (action names
    A001...; plots/sklearn/confusion_matrix.json, written without scikit-learn)."""
    names = np.array([f"A{label + 1:03d}" for label in classes])
    live.log_sklearn_plot("confusion_matrix", names[target].tolist(), names[predicted].tolist(), title=title)


def evaluate_model(spec: ModelSpec, config, options: EvaluateOptions, store_paths: dict[str, Path],
                   model_dir: Path, out: EvalOutputs, summarize=None) -> dict | None:
    """Score the test split; write the metrics JSON, the dvclive metrics and plots (confusion matrix), pictures and
    timing. Returns the metrics (under DDP: rank 0 writes and returns them, the other ranks return None)."""
    device = distributed.start(pick_device(config.device))
    trained_model_file(spec, model_dir)  # a missing model is reported before missing stores
    stores = open_inputs(spec, store_paths)
    outputs, seconds, classes = score_test_split(spec, config, stores, model_dir, device)
    if not distributed.is_main():
        distributed.barrier()  # rank 0 writes
        return None
    target = outputs["target"]
    metrics = {"model": spec.name, "paper": spec.paper, "benchmark": config.benchmark,
               "test_samples": int(len(target)), "classes": int(len(classes)),
               **classification_metrics(outputs["logits"], target, classes, options.appearance_pairs)}
    metrics.update(uncertainty_metrics(spec, outputs, classes, options))
    metrics["per_class"] = _per_class(outputs["logits"], target, classes)
    extra = summarize(outputs, classes) if summarize is not None else {}
    metrics.update(extra)
    write_json(out.metrics, metrics)
    live = open_live(out.live)
    log_evaluation(live, metrics, extra)
    log_confusion(live, target, outputs["logits"].argmax(axis=1), classes, f"{spec.name} confusion (test split)")
    if spec.write_plots is not None:
        spec.write_plots(outputs, classes, live)
    live.end()
    _pictures(stores, outputs, classes, options.pictures, out.pictures)
    timing = {"model": spec.name, "device": str(device), "test_samples": int(len(target)),
              "processes": distributed.world_size(),
              "sequences_per_second": round(len(target) / max(seconds, 1e-9), 2)}
    write_json(out.timing, timing)
    distributed.barrier()
    return metrics


def score_test_split(spec: ModelSpec, config, stores, model_dir: Path,
                 device: torch.device) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    """(outputs over the test split in its order, model seconds, classes) of the trained model (collect_outputs).
    Under DDP each rank scores its shard (positions rank, rank + K, ..., no padding) and every rank receives all
    the outputs, each test sample once; the seconds are the slowest rank's."""
    model, classes = load_trained(spec, config, model_dir, device)
    precision = Precision.of(config, device, spec.image_inputs)
    model = precision.prepare_model(model)
    test_index = stores.splits[config.benchmark]["test"]
    class_of_label = {int(label): k for k, label in enumerate(classes)}
    dataset = FeatureDataset(stores, test_index, class_of_label, partial(spec.make_inputs, config),
                             SampleCache(config.cache_mb * 2**20), augment=False)
    loader = make_loader(distributed.shard(dataset), config.eval_batch_size, False, config.seed,
                         loader_workers(config.loader_workers, device), pin_memory=device.type == "cuda")
    outputs, seconds = collect_outputs(spec, model, loader, device, precision)
    seconds = max(distributed.gather_sharded({"s": np.array([seconds])}, distributed.world_size())["s"])
    return distributed.gather_sharded(outputs, len(dataset)), float(seconds), classes


def uncertainty_metrics(spec: ModelSpec, outputs: dict[str, np.ndarray], classes: np.ndarray,
                        options: EvaluateOptions) -> dict:
    """Intervals and paired comparisons of one model's test outputs, merged into its metrics file.

    outputs: "logits", "target" and each of `spec.stream_keys` that the model's test forward (`spec.predict`)
    returns, all (N, ...) with row i the same test sample (one forward pass per batch), so stream and fused
    correctness pair on identical samples. Returns {"top1_ci95", "macro_f1_ci95", "bootstrap",
    "streams": {key: point metrics + intervals}, "comparisons": {key: fused vs stream}}; classes: (C,) labels.
    """
    target = outputs["target"]
    missing = [key for key in spec.stream_keys if key not in outputs]
    if missing:
        raise KeyError(f"{spec.name}: the test forward returns no logits for stream(s) {missing} "
                       f"(has {sorted(outputs)}): they are needed for the paired comparison")
    found = uncertainty(outputs, target, spec.stream_keys, options.bootstrap_resamples,
                        np.random.default_rng(options.bootstrap_seed))
    streams = {}
    for key in spec.stream_keys:
        streams[key] = {**classification_metrics(outputs[key], target, classes, options.appearance_pairs),
                        **found["streams"][key]}
    return {**found["fused"], "bootstrap": {**found["bootstrap"], "seed": options.bootstrap_seed},
            "streams": streams, "comparisons": found["comparisons"]}


def _per_class(scores, target, classes) -> dict:
    from har.train.metrics import confusion_matrix, per_class_report
    report = per_class_report(confusion_matrix(target, scores.argmax(axis=1), len(classes)))
    return {f"A{label + 1:03d}": row for label, row in zip(classes, report)}
