"""Feature stores as torch datasets: join stores by sample name, carve a validation split, stream samples.

Samples are read one at a time (one chunk per sample) straight from the stores' shard files (har.io.sample_read:
tens of microseconds per sample instead of zarr-python's millisecond, and safe in forked DataLoader workers)
through a byte-bounded LRU cache, so small datasets are decoded once while large ones stream with bounded memory.
Augmentation randomness is a numpy Generator seeded from (seed, epoch, sample), so a resumed run draws exactly what
an uninterrupted one would.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from har.io.sample_read import sample_reader
from har.io.store import open_store, read_meta, read_splits
from har.train import distributed

# Arrays each feature store holds per sample, in the order models receive them.
STORE_ARRAYS: dict[str, tuple[str, ...]] = {
    "skeleton": ("x", "length"),
    "heatmaps": ("heatmaps", "keypoints", "num_frames", "scores"),  # keypoints: training-time sampling
    "rgb_clips": ("clips",),
    "part_crops": ("crops",),
    "stroi": ("mosaic",),
}


class SampleCache:
    """LRU cache of decoded samples bounded by total bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self.items: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()

    def get(self, key: int) -> dict[str, np.ndarray] | None:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key: int, value: dict[str, np.ndarray]) -> None:
        size = sum(v.nbytes for v in value.values())
        if key in self.items or size > self.max_bytes:
            return
        self.items[key] = value
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = self.items.popitem(last=False)
            self.bytes -= sum(v.nbytes for v in old.values())


@dataclass
class FeatureStores:
    """Several feature stores joined on sample name (order and splits of the first store).

    index[store]: (N,) row of each joined sample in that store; labels: (N,) 0-based NTU labels.
    """
    groups: dict
    index: dict[str, np.ndarray]
    meta: dict[str, np.ndarray]
    splits: dict[str, dict[str, np.ndarray]]

    @classmethod
    def open(cls, paths: Mapping[str, str | Path]) -> FeatureStores:
        groups = {name: open_store(path) for name, path in paths.items()}
        first = next(iter(groups))
        metas = {name: read_meta(g) for name, g in groups.items()}
        names = metas[first]["sample"]
        position = {name: {s: i for i, s in enumerate(m["sample"])} for name, m in metas.items()}
        joined = np.array([i for i, s in enumerate(names) if all(s in position[n] for n in groups)], np.int64)
        if len(joined) == 0:
            raise ValueError(f"no sample is present in every store of {list(paths.values())}")
        index = {n: np.array([position[n][names[i]] for i in joined], np.int64) for n in groups}
        remap = {int(old): new for new, old in enumerate(joined)}
        splits = {bench: {part: np.array([remap[int(i)] for i in idx if int(i) in remap], np.int64)
                          for part, idx in parts.items()}
                  for bench, parts in read_splits(groups[first]).items()}
        meta = {k: v[joined] for k, v in metas[first].items()}
        return cls(groups=groups, index=index, meta=meta, splits=splits)

    def __len__(self) -> int:
        return len(self.meta["sample"])

    def __post_init__(self):
        # One row reader per array, opened once (a group lookup re-reads metadata); optional arrays may be absent.
        # Per-sample scalars (lengths, frame counts) are O(N) small: read them once, not one call each.
        self.arrays = {store: {name: group[name] for name in STORE_ARRAYS[store] if name in group}
                       for store, group in self.groups.items()}
        for arrays in self.arrays.values():
            for name, array in arrays.items():
                arrays[name] = np.asarray(array[...]) if array.ndim == 1 else sample_reader(array)

    def read(self, i: int) -> dict[str, np.ndarray]:
        """Every array of joined sample i, keyed by array name (e.g. 'x', 'length', 'clips'): one chunk read per
        array, the same values as zarr-python's `array[row]`."""
        out: dict[str, np.ndarray] = {}
        for store, arrays in self.arrays.items():
            row = int(self.index[store][i])
            for name, array in arrays.items():
                out[name] = array[row] if isinstance(array, np.ndarray) else array(row)
        return out

    def read_block(self, indices: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Arrays of several joined samples (a sample read costs the same alone or with its neighbours)."""
        return [self.read(int(i)) for i in indices]


def carve_validation(train_index: np.ndarray, subjects: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split training samples into (fit, validation) by holding out whole training subjects.

    A `fraction` of the training subjects (at least one, never all) goes to validation, so early stopping never
    sees the test split nor a subject it trains on. With a single training subject, samples are split instead.
    """
    train_index = np.asarray(train_index)
    people = np.unique(subjects[train_index])
    if len(people) >= 2:
        count = int(np.clip(round(fraction * len(people)), 1, len(people) - 1))
        held = rng.choice(people, size=count, replace=False)
        is_val = np.isin(subjects[train_index], held)
    else:
        is_val = np.zeros(len(train_index), bool)
        is_val[rng.permutation(len(train_index))[: max(1, int(round(fraction * len(train_index))))]] = True
    return train_index[~is_val], train_index[is_val]


class FeatureDataset(Dataset):
    """torch Dataset over some joined samples: raw arrays -> `make_inputs` -> tensors, plus the class index.

    make_inputs(arrays, rng) returns a dict of numpy arrays for the model; rng is None for evaluation (no
    augmentation) and a Generator seeded from (seed, epoch, sample) for training.
    """

    def __init__(self, stores: FeatureStores, indices: np.ndarray, class_of_label: Mapping[int, int],
                 make_inputs: Callable, cache: SampleCache, augment: bool, seed: int = 0):
        self.stores, self.indices = stores, np.asarray(indices, np.int64)
        self.class_of_label, self.make_inputs = dict(class_of_label), make_inputs
        self.cache, self.augment, self.seed, self.epoch = cache, augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        i = int(self.indices[k])
        arrays = self.cache.get(i)
        if arrays is None:
            arrays = self.stores.read(i)
            self.cache.put(i, arrays)
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.augment else None
        inputs = self.make_inputs(arrays, rng)
        sample = {k: torch.from_numpy(np.array(v)) for k, v in inputs.items()}  # a contiguous, writable copy
        sample["target"] = torch.tensor(self.class_of_label[int(self.stores.meta["label"][i])])
        sample["index"] = torch.tensor(i)
        return sample


def loader_workers(setting: int | str, device: torch.device) -> int:
    """DataLoader worker processes for a `loader_workers` setting: a number, or `auto` = none on the CPU (the model
    needs the cores; samples are read in microseconds) and on CUDA up to 8 per process, leaving one core per
    process for its training loop."""
    if setting != "auto":
        return int(setting)
    if device.type != "cuda":
        return 0
    return max(1, min(8, (os.cpu_count() or 2) // distributed.world_size() - 1))


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int, workers: int,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader whose shuffling is seeded, so the same config visits samples in the same order. Under DDP a
    shuffling loader yields this rank's share of each global batch of `batch_size` (the same permutation, drawn
    from the same generator, as one process: har.train.distributed.ShardedBatchSampler). `pin_memory` (on CUDA)
    lets batches reach the device asynchronously."""
    generator = torch.Generator().manual_seed(seed)
    if shuffle and distributed.world_size() > 1:
        sampler = distributed.ShardedBatchSampler(RandomSampler(dataset, generator=generator), batch_size,
                                                  distributed.rank(), distributed.world_size())
        return DataLoader(dataset, batch_sampler=sampler, generator=generator, num_workers=workers,
                          pin_memory=pin_memory)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=workers, drop_last=False, pin_memory=pin_memory)
