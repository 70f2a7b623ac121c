"""What the generic train/evaluate code needs to know about a model: its inputs, builder and recipe."""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from torch import nn

from har.train.loop import ForwardFn, TrainContext, default_forward


@dataclass(frozen=True)
class TrainBase:
    """Settings every model's `train_<model>` params section shares."""
    seed: int = 0
    # The variant of each feature store the model reads (store -> name; params <stage>.variants.<name>): the
    # pipeline picks the store paths with it (pipeline.paths.feature_stores) and checks it when params load
    stores: dict[str, str] = dataclasses.field(default_factory=dict)
    benchmark: Literal["xsub", "xview", "xset"] = "xsub"
    val_fraction: float = 0.2  # share of the training SUBJECTS held out for early stopping
    cache_mb: int = 1024  # decoded samples kept in memory (bounded LRU)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # DistributedDataParallel processes on this machine (har.train.distributed): above 1, `har-prep train` and
    # `har-prep evaluate` run themselves under torchrun (gloo on CPU, NCCL on CUDA, one GPU per process)
    nproc: int = 1
    loader_workers: int | Literal["auto"] = "auto"  # auto: 0 on the CPU, up to 8 per process on CUDA
    eval_batch_size: int = 32
    # Mixed precision and memory layout (har.train.precision): auto = bf16 autocast (fp16 + grad scaler where the
    # GPU lacks bf16) and channels-last convolutions on CUDA, plain fp32 on the CPU
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"
    channels_last: Literal["auto", "on", "off"] = "auto"


MakeInputs = Callable[[Any, dict, "np.random.Generator | None"], dict]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    paper: str
    inputs: tuple[str, ...]  # feature stores read, first one gives order and splits
    config_type: type  # a TrainBase subclass with a `model` field
    build: Callable[[Any, int], nn.Module]  # (config.model, num_classes) -> module
    make_inputs: MakeInputs  # (config, arrays of one sample, rng or None) -> model inputs
    recipe: Callable[[TrainContext, Any], None]  # runs the training phases
    stream_keys: tuple[str, ...] = ()  # per-stream logits reported beside the fused "logits"
    predict: ForwardFn = default_forward  # test-time forward (e.g. averaging several clips)
    # (outputs over the test split, classes) -> extra metrics (attention per class, gate statistics, ...)
    summarize: Callable[[dict, np.ndarray], dict] | None = None
    # (outputs over the test split, classes, dvclive.Live of the evaluation) -> extra plots logged to it
    # (e.g. attention per class)
    write_plots: Callable[[dict, np.ndarray, Any], None] | None = None
    # Dotted config keys read only after the streams' pretraining (fusion scheme, fusion phase): changing them
    # reuses the finished checkpoints of the stream phases (Phase.stream_modules), e.g. in a `dvc exp run` fusion
    # ablation.
    # Checked against config_type when the spec is built (at import): a key it does not have raises.
    late_keys: tuple[str, ...] = ()
    # Channel-first image or clip inputs ((B, C, H, W) or (B, C, T, H, W)) stored channels-last with the model's
    # convolutions when the train section's channels_last is on (har.train.precision)
    image_inputs: tuple[str, ...] = ()
    # (config, {input store name: opened zarr group}) -> the config checked against what its stores were built with
    # (frame counts, sizes, persons, ... recorded in their attrs) and bound to what it must read from them (EPAM's
    # heatmap rendering). Called at stage start (pipeline.train); raises har.config.ConfigError naming both keys.
    bind_stores: Callable[[Any, Mapping[str, Any]], Any] | None = None

    def __post_init__(self):
        for key in self.late_keys:
            check_dotted_key(self.config_type, key, f"ModelSpec {self.name!r} late_keys")


def check_dotted_key(config_type: type, key: str, where: str) -> None:
    """Raise ValueError unless `key` ("model.fusion") names a field path of the dataclass `config_type`."""
    owner = config_type
    for part in key.split("."):
        names = {f.name for f in dataclasses.fields(owner)} if dataclasses.is_dataclass(owner) else set()
        if part not in names:
            raise ValueError(f"{where}: {key!r} is not a key of {config_type.__name__} "
                             f"({owner.__name__} has no field {part!r}; it has {sorted(names)})")
        owner = typing.get_type_hints(owner)[part]
