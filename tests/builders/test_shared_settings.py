"""Settings several stages share have one home, and what can still disagree fails at stage start.

`denoise` (skeletons, heatmaps, video) is a single params section and a pose view (`poses.variants.<name>`) is named
by the heatmaps and video variants that use it; the stores record them in their attrs; a training stage reads EPAM's
heatmap sigma from heatmaps.zarr and checks its model's frame counts and sizes against the stores, naming both keys
when they disagree. Run through the real stage entry points (pipeline.skeletons/heatmaps/video/train) on the tiny
synthetic set, from a project folder of their own.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

import har.train.inputs as inputs
from har.config import ConfigError
from har.io.store import open_store
from har.train.inputs import HeatmapRendering, render_heatmap_frames
from har.train.registry import model_spec
from har.transforms.sample import uniform_sample_indices

ROOT = Path(__file__).resolve().parents[2]
SMOKE = yaml.safe_load((ROOT / "params.smoke.yaml").read_text())
POSES, VIDEO = SMOKE["poses"]["variants"]["default"], SMOKE["video"]["variants"]["default"]
SIGMA, POSE_FRAMES = "heatmaps.variants.default.sigma", "poses.variants.default.frames"  # dotted params keys


def _params(tiny_raw: Path, **changes) -> dict:
    """A project params file: the smoke sections (tiny sizes) on the tiny synthetic set, with dotted changes."""
    params = {name: SMOKE[name] for name in ("denoise", "skeletons", "poses", "heatmaps", "video", "train_epam",
                                             "train_amfi", "train_das", "train_glimpse", "train_stroi", "evaluate")}
    params = yaml.safe_load(yaml.safe_dump(params))  # a deep copy
    params["compute"] = {"scheduler": "synchronous", "block_size": 8}
    params["ingest"] = {"source": str(tiny_raw / "raw")}
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = params
        for key in path:
            node = node[key]
        node[last] = value
    return params


class _Project:
    def __init__(self, root: Path, tiny_raw: Path):
        self.root, self.tiny_raw = root, tiny_raw
        (root / "data" / "interim").mkdir(parents=True)
        (root / "data" / "interim" / "skeletons.zarr").symlink_to(tiny_raw / "skeletons.zarr")

    def run(self, stage, **changes):
        """Write params.yaml with `changes` (dotted keys) and call `stage(params_file)` from the project folder."""
        (self.root / "params.yaml").write_text(yaml.safe_dump(_params(self.tiny_raw, **changes)))
        cwd = Path.cwd()
        os.chdir(self.root)
        try:
            return stage(Path("params.yaml"))
        finally:
            os.chdir(cwd)

    def store(self, name: str):
        from pipeline.paths import feature_store
        return open_store(self.root / feature_store(name))


@pytest.fixture(scope="module")
def project(tiny_raw, tmp_path_factory):
    from pipeline import heatmaps, skeletons, video
    project = _Project(tmp_path_factory.mktemp("project"), tiny_raw)
    for stage in (skeletons, heatmaps, video):
        project.run(lambda params, stage=stage: stage.run(params, progress=False))
    return project


def _heatmap_arrays(group, i: int) -> dict:
    return {name: np.asarray(group[name][i]) for name in ("heatmaps", "keypoints", "num_frames")}


def test_epam_training_heatmaps_follow_heatmaps_sigma(project, monkeypatch):
    """Change heatmaps.sigma, rebuild: EPAM's training-time rendering draws what the store holds."""
    from pipeline import heatmaps
    from pipeline.train import stage_config
    spec = model_spec("epam")
    before = np.asarray(project.store("heatmaps")["heatmaps"][...])
    project.run(lambda params: heatmaps.run(params, progress=False), **{SIGMA: 1.4})
    group = project.store("heatmaps")
    assert group.attrs["sigma"] == 1.4 and group.attrs["params"]["heatmaps"]["sigma"] == 1.4
    assert not np.array_equal(np.asarray(group["heatmaps"][...]), before)  # sigma changed the stored maps
    config = project.run(lambda params: stage_config(spec, params), **{SIGMA: 1.4})
    assert config.heatmaps == HeatmapRendering(sigma=1.4, limbs=False)
    # EPAM's training path with one change: its frame sampling takes the stored (test-mode) frames, so its
    # rendering can be compared with the stored heatmaps frame by frame.
    original = inputs.uniform_sample_indices
    monkeypatch.setattr(inputs, "uniform_sample_indices", lambda count, frames, rng: original(count, frames, None))
    clips = np.asarray(project.store("rgb_clips")["clips"][0])
    frames = config.model.pose_frames
    for i in range(group["heatmaps"].shape[0]):
        arrays = {**_heatmap_arrays(group, i), "clips": clips}
        stored = arrays["heatmaps"].astype(np.float32) / 255
        trained = spec.make_inputs(config, arrays, np.random.default_rng(i))["heatmaps"]
        np.testing.assert_allclose(trained, stored, rtol=0, atol=1 / 255 + 1e-7)  # within uint8 quantisation
        # The old copy (train_epam.heatmap_sigma: 0.6) would have trained on other heatmaps than it evaluates on.
        index = uniform_sample_indices(int(arrays["num_frames"]), frames, None)
        stale = render_heatmap_frames(arrays, index, HeatmapRendering(sigma=0.6, limbs=False))
        assert np.abs(stale.astype(np.float32) / 255 - stored).max() > 2 / 255
    project.run(lambda params: heatmaps.run(params, progress=False))  # back to the smoke sigma for later tests


def test_model_frames_that_disagree_with_the_store_fail_at_stage_start_naming_both_keys(project):
    from pipeline.train import evaluate, train
    pose_frames = POSES["frames"]
    changes = {"train_epam.model.pose_frames": 2 * pose_frames}
    expected = rf"train_epam\.model\.pose_frames={2 * pose_frames} but heatmaps\.zarr was built with " \
               rf"poses\.variants\.default\.frames={pose_frames}"
    with pytest.raises(ConfigError, match=expected):
        project.run(lambda params: train("epam", params, progress=False), **changes)
    with pytest.raises(ConfigError, match=expected):
        project.run(lambda params: evaluate("epam", params), **changes)
    assert not (project.root / "data" / "models").exists()  # nothing ran
    clip_frames = VIDEO["clip_frames"]
    # AMFI-Net's frame counts are the stores' own: the old model copies are refused with a pointer to their home.
    for key, home in (("rgb_frames", r"video\.clip_frames"), ("skeleton_frames", r"skeletons\.frames")):
        with pytest.raises(ConfigError, match=rf"train_amfi\.model: key '{key}' was removed: .*{home}"):
            project.run(lambda params: train("amfi", params, progress=False), **{f"train_amfi.model.{key}": 8})
    with pytest.raises(ConfigError, match=r"train_das\.model\.clip_frames=.* needs a crop track of at least .* "
                                          r"part_crops\.zarr was built with video\.clip_frames="):
        project.run(lambda params: train("das", params, progress=False),
                    **{"train_das.model.clip_frames": clip_frames + 4})
    with pytest.raises(ConfigError, match=r"train_glimpse\.model\.persons=3 but skeleton\.zarr was built with "
                                          r"denoise\.max_actors=2"):
        project.run(lambda params: train("glimpse", params, progress=False), **{"train_glimpse.model.persons": 3})


def test_clips_and_heatmaps_from_different_pose_views_are_refused(project):
    """Both stores read `poses`; built from different values (one stage rerun by hand), EPAM refuses them."""
    from pipeline import heatmaps
    from pipeline.train import stage_config
    frames = 2 * POSES["frames"]
    changes = {POSE_FRAMES: frames, "train_epam.model.pose_frames": frames}
    try:
        project.run(lambda params: heatmaps.run(params, progress=False), **changes)
        with pytest.raises(ConfigError, match=rf"rgb_clips\.zarr was built with poses\.variants\.default\.frames="
                                              rf"{frames // 2} but heatmaps\.zarr with poses\.variants\.default\."
                                              rf"frames={frames}"):
            project.run(lambda params: stage_config(model_spec("epam"), params), **changes)
    finally:
        project.run(lambda params: heatmaps.run(params, progress=False))


def test_store_checks_of_every_model_pass_on_matching_stores(project):
    from pipeline.train import stage_config
    for name in ("glimpse", "epam", "amfi", "das", "stroi"):
        spec = model_spec(name)
        config = project.run(lambda params, spec=spec: stage_config(spec, params))
        assert type(config) is spec.config_type


def test_a_store_without_the_record_asks_for_a_rebuild():
    from har.train.recipes.epam import EpamTrain, bind_stores
    old = {"heatmaps": SimpleNamespace(attrs={"sigma": 0.6}), "rgb_clips": SimpleNamespace(attrs={})}
    with pytest.raises(ConfigError, match=r"heatmaps\.zarr does not record poses\.frames .*rebuild"):
        bind_stores(EpamTrain(), old)


def test_the_train_command_runs_itself_under_torchrun_when_nproc_is_above_one(project):
    """`har-prep train glimpse` (the DVC stage command) with train_glimpse.nproc = 2 re-runs itself as torchrun's two
    processes: rank 0 writes the model and a timing file that says two processes trained."""
    import json
    import subprocess

    params = _params(project.tiny_raw, **{"train_glimpse.nproc": 2, "train_glimpse.fit.epochs": 1})
    (project.root / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run(["har-prep", "train", "glimpse", "--params", "params.yaml", "--quiet"], cwd=project.root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    timing = json.loads((project.root / "data/metrics/timing/glimpse_train.json").read_text())
    assert timing["processes"] == 2
    assert (project.root / "data/models/glimpse/model.pt").is_file()
    assert done.stdout.count("train glimpse:") == 1  # only rank 0 reports
