"""The skeleton and heatmap stages on a tiny synthetic dataset."""
from __future__ import annotations

import numpy as np

from har.builders.heatmaps import HeatmapOptions, build_heatmaps
from har.builders.poses import PoseOptions
from har.builders.skeletons import SkeletonOptions, build_skeletons
from har.io.store import open_store, read_meta, read_splits
from har.train.inputs import HeatmapRendering, StoreFacts, pose_heatmaps, render_heatmap_frames
from har.transforms.sample import uniform_sample_indices
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
    assert (group.attrs["frames"], group.attrs["persons"], group.attrs["joints"]) == (16, 2, 25)
    assert group.attrs["denoise"]["max_actors"] == 2


def test_heatmap_stage_is_deterministic_and_matches_training_rendering(tiny_raw, tmp_path):
    options, poses = HeatmapOptions(size=24, sigma=0.9), PoseOptions(frames=16)
    for name in ("a", "b"):
        build_heatmaps(tiny_raw / "skeletons.zarr", tmp_path / f"{name}.zarr", tmp_path / "q.csv", SYNC, options,
                       poses=poses, progress=False)
    a, b = (open_store(tmp_path / f"{n}.zarr", "heatmaps") for n in "ab")
    assert a["heatmaps"].shape[1:] == (25, 16, 24, 24) and a["heatmaps"].dtype == np.uint8
    np.testing.assert_array_equal(a["heatmaps"][...], b["heatmaps"][...])
    assert a.attrs["sigma"] == 0.9 and a.attrs["frames"] == 16 and a.attrs["pose_frames"] == 16
    assert a.attrs["box_padding"] == 0.25 and a.attrs["channels"] == 25 and a.attrs["persons"] == 2
    rendering = HeatmapRendering.of_store(StoreFacts({"heatmaps": a}))
    assert rendering == HeatmapRendering(sigma=0.9, limbs=False)
    for i in range(a["heatmaps"].shape[0]):
        maps = np.asarray(a["heatmaps"][i])
        assert 0.002 < np.mean(maps > 0) < 0.2  # sparse blobs, not empty and not flooded
        arrays = {name: np.asarray(a[name][i]) for name in ("heatmaps", "keypoints", "num_frames")}
        np.testing.assert_array_equal(pose_heatmaps(arrays, None, 16, None), maps.astype(np.float32) / 255)
        # The training path (keypoints drawn with the store's sigma) at the stored frames gives the stored maps.
        index = uniform_sample_indices(int(arrays["num_frames"]), 16, None)
        np.testing.assert_array_equal(render_heatmap_frames(arrays, index, rendering), maps)
        rendered = pose_heatmaps(arrays, np.random.default_rng(i), 16, rendering)
        assert rendered.shape == maps.shape and np.mean(rendered > 0) > 0.002
