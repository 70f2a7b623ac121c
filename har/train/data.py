"""Feature stores as torch datasets: join stores by sample name, carve a validation split, stream samples.

Samples are read one at a time from the zarr stores (one chunk per sample) through a byte-bounded LRU cache, so
small datasets are read from disk once while large ones stream with bounded memory. Augmentation randomness is a
numpy Generator seeded from (seed, epoch, sample), so a resumed run draws exactly what an uninterrupted one would.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from har.io.store import open_store, read_meta, read_splits

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
        # Array handles opened once (a group lookup re-reads metadata); optional arrays may be absent.
        # Per-sample scalars (lengths, frame counts) are O(N) small: read them once, not one zarr call each.
        self.arrays = {store: {name: group[name] for name in STORE_ARRAYS[store] if name in group}
                       for store, group in self.groups.items()}
        for arrays in self.arrays.values():
            for name, array in arrays.items():
                if array.ndim == 1:
                    arrays[name] = np.asarray(array[...])

    def read(self, i: int) -> dict[str, np.ndarray]:
        """Every array of joined sample i, keyed by array name (e.g. 'x', 'length', 'clips')."""
        return self.read_block(np.array([i]))[0]

    def read_block(self, indices: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Arrays of several joined samples, read with one zarr call per array over their row span (a zarr
        call costs about a millisecond whatever its size, so neighbours are nearly free)."""
        out: list[dict[str, np.ndarray]] = [{} for _ in indices]
        for store, arrays in self.arrays.items():
            rows = self.index[store][indices]
            low, high = int(rows.min()), int(rows.max()) + 1
            for name, array in arrays.items():
                block = array[low:high] if isinstance(array, np.ndarray) else np.asarray(array[low:high])
                for k, row in enumerate(rows):
                    out[k][name] = block[row - low]
        return out


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
                 make_inputs: Callable, cache: SampleCache, augment: bool, seed: int = 0, read_block: int = 16):
        self.stores, self.indices = stores, np.asarray(indices, np.int64)
        self.read_block = read_block
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
            arrays = self._read_around(i)
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.augment else None
        inputs = self.make_inputs(arrays, rng)
        sample = {k: torch.from_numpy(np.array(v)) for k, v in inputs.items()}  # a contiguous, writable copy
        sample["target"] = torch.tensor(self.class_of_label[int(self.stores.meta["label"][i])])
        sample["index"] = torch.tensor(i)
        return sample

    def _read_around(self, i: int) -> dict[str, np.ndarray]:
        """Read sample i with the other samples of its aligned block, caching them all."""
        start = (i // self.read_block) * self.read_block
        block = np.arange(start, min(start + self.read_block, len(self.stores)))
        for index, arrays in zip(block, self.stores.read_block(block)):
            self.cache.put(int(index), arrays)
        return self.cache.get(i) or self.stores.read(i)


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int, workers: int) -> DataLoader:
    """A DataLoader whose shuffling is seeded, so the same config visits samples in the same order."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=workers, drop_last=False)
