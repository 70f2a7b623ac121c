"""The skeleton and heatmap stages on a tiny synthetic dataset."""
from __future__ import annotations

import numpy as np

from har.builders.heatmaps import HeatmapOptions, build_heatmaps
from har.builders.skeletons import SkeletonOptions, build_skeletons
from har.io.store import open_store, read_meta, read_splits
from har.train.inputs import pose_heatmaps
from tests.builders.conftest import SYNC


def test_skeleton_stage_shapes_metadata_and_splits(tiny_raw, tmp_path):
    summary = build_skeletons(tiny_raw / "skeletons.zarr", tmp_path / "skeleton.zarr", tmp_path / "q.csv", SYNC,
                              SkeletonOptions(frames=16), progress=False)
    group = open_store(tmp_path / "skeleton.zarr", "skeleton")
    assert group["x"].shape == (summary["samples"], 2, 16, 25, 3) and group["x"].dtype == np.float32
    meta = read_meta(group)
    assert list(meta["sample"]) == sorted(meta["sample"])
    assert np.all(meta["label"] == np.array([int(s[-3:]) - 1 for s in meta["sample"]]))
    x = np.asarray(group["x"][...])
    lengths = np.asarray(group["length"][...])
    assert np.all(lengths == 16)  # tiny clips have 21-36 frames: subsampled to 16
    np.testing.assert_allclose(x[:, 0, 0, 1], 0.0, atol=1e-6)  # centred on the first frame's spine-mid
    two_person = np.isin(meta["label"], [57])
    assert np.all(np.any(x[two_person, 1] != 0, axis=(1, 2, 3)))
    assert not np.any(x[~two_person, 1])  # one actor: the second slot stays zero
    splits = read_splits(group)
    assert set(meta["subject"][splits["xsub"]["train"]]) == {1, 2}
    assert set(meta["subject"][splits["xsub"]["test"]]) == {3}


def test_heatmap_stage_is_deterministic_and_matches_training_rendering(tiny_raw, tmp_path):
    options = HeatmapOptions(frames=16, size=24)
    for name in ("a", "b"):
        build_heatmaps(tiny_raw / "skeletons.zarr", tmp_path / f"{name}.zarr", tmp_path / "q.csv", SYNC, options,
                       progress=False)
    a, b = (open_store(tmp_path / f"{n}.zarr", "heatmaps") for n in "ab")
    assert a["heatmaps"].shape[1:] == (25, 16, 24, 24) and a["heatmaps"].dtype == np.uint8
    np.testing.assert_array_equal(a["heatmaps"][...], b["heatmaps"][...])
    maps = np.asarray(a["heatmaps"][0])
    assert 0.002 < np.mean(maps > 0) < 0.2  # sparse blobs, not empty and not flooded
    arrays = {name: np.asarray(a[name][0]) for name in ("heatmaps", "keypoints", "num_frames")}
    stored = pose_heatmaps(arrays, None, 16, 0.6, False)
    np.testing.assert_array_equal(stored, maps.astype(np.float32) / 255)
    rendered = pose_heatmaps(arrays, np.random.default_rng(0), 16, 0.6, False)
    assert rendered.shape == stored.shape and np.mean(rendered > 0) > 0.002
    assert a.attrs["sigma"] == 0.6 and a.attrs["frames"] == 16
