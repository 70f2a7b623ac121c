"""Feature stores as datasets: joining by sample name, validation carved by subject, cached reads, seeded
permutations per epoch, reads in forked DataLoader workers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

from har.io.sample_read import ShardSampleReader
from har.io.store import atomic_store, create_sample_array, stamp, write_array, write_meta, write_splits
from har.train.data import FeatureDataset, FeatureStores, SampleCache, carve_validation, make_loader


def make_store(path, names, values, name="x", extra_length=False):
    subjects = [int(n[9:12]) for n in names]
    with atomic_store(path) as group:
        array = create_sample_array(group, name, len(names), (2,), np.float32, per_shard=3)
        array[...] = np.asarray(values, np.float32)
        if extra_length:
            write_array(group, "length", np.arange(len(names), dtype=np.int32))
        write_meta(group, {"sample": names, "label": [int(n[-3:]) - 1 for n in names], "setup": [1] * len(names),
                           "camera": [1] * len(names), "subject": subjects, "replication": [1] * len(names)})
        train = [i for i, s in enumerate(subjects) if s in (1, 2, 4)]
        write_splits(group, {"xsub": {"train": train, "test": [i for i in range(len(names)) if i not in train]}})
        stamp(group, artifact="demo")


NAMES = [f"S001C001P{p:03d}R001A{a:03d}" for p in (1, 2, 3, 4) for a in (1, 2)]


def test_stores_join_on_sample_names_and_keep_the_first_stores_splits(tmp_path):
    make_store(tmp_path / "skeleton.zarr", NAMES, [[i, i] for i in range(8)], extra_length=True)
    # the second store lost sample 2 (quarantined) and is otherwise in the same order
    kept = [n for k, n in enumerate(NAMES) if k != 2]
    make_store(tmp_path / "stroi.zarr", kept, [[10 * NAMES.index(n)] * 2 for n in kept], name="mosaic")
    stores = FeatureStores.open({"skeleton": tmp_path / "skeleton.zarr", "stroi": tmp_path / "stroi.zarr"})
    assert list(stores.meta["sample"]) == kept
    for i, name in enumerate(kept):
        arrays = stores.read(i)
        assert arrays["x"][0] == NAMES.index(name) and arrays["mosaic"][0] == 10 * NAMES.index(name)
        assert arrays["length"] == NAMES.index(name)
    assert sorted(stores.meta["subject"][stores.splits["xsub"]["test"]]) == [3, 3]
    block = stores.read_block(np.arange(1, 5))
    assert [b["x"][0] for b in block] == [1, 3, 4, 5]


def test_validation_holds_out_whole_training_subjects():
    subjects = np.repeat([1, 2, 4, 5, 8], 10)
    train = np.arange(50)
    fit, val = carve_validation(train, subjects, 0.2, np.random.default_rng(0))
    assert len(set(subjects[val])) == 1 and not set(subjects[val]) & set(subjects[fit])
    assert len(fit) + len(val) == 50
    fit, val = carve_validation(np.arange(10), np.ones(10, int), 0.2, np.random.default_rng(0))
    assert len(val) == 2 and not set(val) & set(fit)


def test_dataset_augments_reproducibly_per_epoch_and_caches_within_a_bound(tmp_path):
    make_store(tmp_path / "skeleton.zarr", NAMES, [[i, i] for i in range(8)], extra_length=True)
    stores = FeatureStores.open({"skeleton": tmp_path / "skeleton.zarr"})

    def make_inputs(arrays, rng):
        noise = 0.0 if rng is None else rng.normal()
        return {"x": arrays["x"] + noise}

    cache = SampleCache(max_bytes=3 * 8)  # three samples of two float32
    dataset = FeatureDataset(stores, np.arange(8), {0: 0, 1: 1}, make_inputs, cache, augment=True, seed=1)
    first = dataset[5]["x"].clone()
    assert cache.bytes <= 24
    assert dataset[5]["x"].equal(first)
    dataset.set_epoch(1)
    assert not dataset[5]["x"].equal(first)
    assert int(dataset[5]["target"]) == 1 and int(dataset[5]["index"]) == 5  # A002 -> class 1
    plain = FeatureDataset(stores, np.arange(8), {0: 0, 1: 1}, make_inputs, SampleCache(1 << 20), augment=False)
    assert plain[5]["x"].tolist() == [5.0, 5.0]
    with pytest.raises(ValueError, match="no sample is present"):
        make_store(tmp_path / "other.zarr", [n.replace("S001", "S002") for n in NAMES], [[0, 0]] * 8)
        FeatureStores.open({"skeleton": tmp_path / "skeleton.zarr", "stroi": tmp_path / "other.zarr"})


def test_fingerprint_ignores_only_the_late_keys():
    from har.train.run import without_keys
    config = {"seed": 0, "fuse": {"epochs": 6}, "model": {"fusion": "amfi", "width": 0.125}}
    assert without_keys(config, ("fuse", "model.fusion")) == {"seed": 0, "model": {"width": 0.125}}
    assert without_keys(config, ()) == config


def raw_x(arrays, rng):
    return {"x": arrays["x"]}


def test_loader_draws_a_full_seeded_permutation_every_epoch(tmp_path):
    make_store(tmp_path / "skeleton.zarr", NAMES, [[i, i] for i in range(8)])
    stores = FeatureStores.open({"skeleton": tmp_path / "skeleton.zarr"})

    def epochs(seed):
        dataset = FeatureDataset(stores, np.arange(8), {0: 0, 1: 1}, raw_x, SampleCache(0), augment=True)
        loader = make_loader(dataset, 3, True, seed, 0)
        return [torch.cat([batch["index"] for batch in loader]).tolist() for _ in range(4)]

    orders = epochs(seed=5)
    assert all(sorted(order) == list(range(8)) for order in orders)  # every sample once per epoch
    assert len({tuple(order) for order in orders}) > 1  # a new permutation each epoch
    assert epochs(seed=5) == orders and epochs(seed=6) != orders


def test_forked_workers_read_the_bytes_zarr_python_reads(tmp_path):
    names = [f"S001C001P{p:03d}R001A{a:03d}" for p in (1, 2, 3, 4, 5) for a in (1, 2, 3, 4)]
    values = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    values[[3, 11]] = 0  # the fill value: zarr leaves these chunks out of their shards
    make_store(tmp_path / "skeleton.zarr", names, values)
    stores = FeatureStores.open({"skeleton": tmp_path / "skeleton.zarr"})
    assert isinstance(stores.arrays["skeleton"]["x"], ShardSampleReader)
    stores.read(0)  # the parent has open shard files and cached indices before the workers fork
    dataset = FeatureDataset(stores, np.arange(20), {k: k for k in range(4)}, raw_x, SampleCache(0), augment=False)
    batches = list(make_loader(dataset, 4, True, 0, 2))
    expected = np.asarray(zarr.open_group(str(tmp_path / "skeleton.zarr"), mode="r")["x"][...])
    seen = torch.cat([b["index"] for b in batches]).numpy()
    assert sorted(seen) == list(range(20))
    assert np.array_equal(torch.cat([b["x"] for b in batches]).numpy(), expected[seen])


def test_loader_workers_auto_uses_workers_only_on_cuda(monkeypatch):
    import os

    import torch

    from har.train.data import loader_workers, make_loader
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert loader_workers("auto", torch.device("cpu")) == 0
    assert loader_workers("auto", torch.device("cuda", 0)) == 8
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert loader_workers("auto", torch.device("cuda", 0)) == 1
    assert loader_workers(3, torch.device("cpu")) == 3
    loader = make_loader(list(range(10)), 4, True, 0, 0, pin_memory=True)
    assert loader.pin_memory
