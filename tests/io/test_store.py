import hashlib
import os

import numpy as np
import pytest

from har.io.store import (
    atomic_dir,
    atomic_file,
    atomic_store,
    create_sample_array,
    open_store,
    read_meta,
    read_splits,
    stamp,
    write_meta,
    write_splits,
)


def tree_digest(path):
    digest = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            digest[os.path.relpath(full, path)] = hashlib.md5(open(full, "rb").read()).hexdigest()
    return digest


def build(path, order):
    with atomic_store(path) as group:
        x = create_sample_array(group, "x", 10, (4, 3), np.float32, per_shard=4)
        for i in order:
            x[i] = np.full((4, 3), i, np.float32)
        write_meta(group, {"sample": [f"S001C001P{i + 1:03d}R001A001" for i in range(10)],
                           "label": np.zeros(10), "setup": np.ones(10), "camera": np.ones(10),
                           "subject": np.arange(1, 11), "replication": np.ones(10)})
        write_splits(group, {"xsub": {"train": np.arange(5), "test": np.arange(5, 10)}})
        stamp(group, artifact="demo", params={"a": 1})


def test_store_is_byte_identical_whatever_the_write_order(tmp_path):
    build(tmp_path / "a.zarr", range(10))
    build(tmp_path / "b.zarr", [9, 3, 0, 7, 1, 2, 8, 4, 6, 5])
    assert tree_digest(tmp_path / "a.zarr") == tree_digest(tmp_path / "b.zarr")
    group = open_store(tmp_path / "a.zarr", "demo")
    assert group["x"][7][0, 0] == 7
    assert read_meta(group)["sample"][2] == "S001C001P003R001A001"
    assert read_splits(group)["xsub"]["test"].tolist() == [5, 6, 7, 8, 9]
    # flat chunk keys: no nested c/0/0 directories
    assert not (tmp_path / "a.zarr" / "x" / "c").exists()


def test_failed_build_leaves_previous_output_untouched(tmp_path):
    build(tmp_path / "a.zarr", range(10))
    before = tree_digest(tmp_path / "a.zarr")
    with pytest.raises(RuntimeError):
        with atomic_store(tmp_path / "a.zarr") as group:
            group.create_array("y", shape=(2,), dtype="f4")
            raise RuntimeError("interrupted")
    assert tree_digest(tmp_path / "a.zarr") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr"]


def test_atomic_file_and_dir(tmp_path):
    with atomic_file(tmp_path / "f.txt") as handle:
        handle.write("one")
    with pytest.raises(ValueError):
        with atomic_file(tmp_path / "f.txt") as handle:
            handle.write("two")
            raise ValueError
    assert (tmp_path / "f.txt").read_text() == "one"
    with atomic_dir(tmp_path / "d") as folder:
        (folder / "x").write_text("1")
    assert (tmp_path / "d" / "x").read_text() == "1"


def test_open_store_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no zarr store"):
        open_store(tmp_path / "none.zarr")
    build(tmp_path / "a.zarr", range(10))
    with pytest.raises(ValueError, match="expected a 'heatmaps' artifact"):
        open_store(tmp_path / "a.zarr", "heatmaps")
