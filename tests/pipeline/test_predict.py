"""`har-prep predict` for every model, and the raw source recorded once by the ingest stage.

One tiny synthetic project is built through the CLI with `ingest --source` at a folder other than params'
`ingest.source` (which does not exist): the video stage must find the videos through the interim store's record.
Then all five models are trained for an epoch, and for a sample the stages built, the inputs predict computes from
the raw files through the stages' per-sample functions must equal the stored arrays, and the model inputs must
equal make_inputs of the stored sample. The real 1080p NTU sample goes through the same code as its own stores.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from har.builders.one_sample import SampleError, sample_arrays
from har.config import ConfigError
from har.io.store import open_store
from har.train.data import FeatureStores
from har.train.registry import MODELS, model_spec
from pipeline import paths, predict
from pipeline.cli import app
from pipeline.params import load_params

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "ntu-samples"
REAL = "S001C001P001R001A001"
SOURCE = "elsewhere/raw"  # not params' ingest.source
SAMPLE = "S001C001P002R001A058"  # two persons (handshaking)
runner = CliRunner()


def _one_epoch(node):
    """Every training phase of a params section cut to one epoch."""
    if isinstance(node, dict):
        return {k: (1 if k == "epochs" and v else _one_epoch(v)) for k, v in node.items()}
    return node


def _invoke(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_project")
    params = _one_epoch(yaml.safe_load((ROOT / "params.smoke.yaml").read_text()))
    params["compute"] = {"scheduler": "synchronous", "block_size": 8}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        _invoke(["synth", SOURCE, "--tiny", "--quiet"])
        _invoke(["ingest", "--source", SOURCE, "--quiet"])
        for stage in ("skeletons", "heatmaps", "video"):
            _invoke([stage, "--quiet"])
        for name in MODELS:
            _invoke(["train", name, "--quiet"])
        yield root


@pytest.fixture()
def in_project(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


def test_video_stage_finds_the_videos_through_the_source_ingest_recorded(in_project):
    assert not Path(load_params()["ingest"]["source"]).exists()  # params point nowhere; --source was used
    interim = open_store(paths.INTERIM_SKELETONS)
    assert interim.attrs["source"] == SOURCE and "source" not in interim.attrs["params"]
    assert str(in_project) not in (paths.INTERIM_SKELETONS / "zarr.json").read_text()  # as given: relative
    clips = open_store(paths.feature_store("rgb_clips"))
    assert clips["clips"].shape[0] == interim["num_frames"].shape[0] == 24


def _sample_files(name: str) -> tuple[Path, Path]:
    return (Path(SOURCE) / "nturgb+d_skeletons" / f"{name}.skeleton",
            Path(SOURCE) / "nturgb+d_rgb" / f"{name}_rgb.avi")


def _stored(spec, name: str) -> dict:
    stores = FeatureStores.open({store: paths.feature_store(store) for store in spec.inputs})
    return stores.read(int(np.flatnonzero(stores.meta["sample"] == name)[0]))


def _assert_same_arrays(computed: dict, stored: dict) -> None:
    assert set(computed) == set(stored)
    for key, value in stored.items():
        if key == "keypoints":  # the store pads every sample to its longest one with NaN
            value = value[:, :computed[key].shape[1]]
            assert np.isnan(value[:, computed[key].shape[1]:]).all()
        assert np.array_equal(computed[key], value, equal_nan=True), key
        assert np.asarray(computed[key]).dtype == np.asarray(value).dtype, key


@pytest.mark.parametrize("name", list(MODELS))
def test_predict_computes_exactly_the_stored_inputs_of_a_sample(in_project, name):
    spec = model_spec(name)
    params = load_params()
    _, _, config, _ = predict.load_model(spec, Path("params.yaml"), params, paths.MODELS / name)
    settings = predict.stage_settings(Path("params.yaml"), params, spec, config)
    skeleton_file, video_file = _sample_files(SAMPLE)
    stored = _stored(spec, SAMPLE)
    _assert_same_arrays(sample_arrays(skeleton_file, spec.inputs, settings, video_file), stored)
    timings = {}
    batch = predict.prepare(spec, config, settings, skeleton_file, video_file, timings)
    expected = torch.utils.data.default_collate([spec.make_inputs(config, stored, None)])
    assert set(batch) == set(expected)
    for key in expected:
        assert torch.equal(batch[key], expected[key]), key
    assert {"read", "inputs"} <= set(timings)
    assert ("video decode" in timings) == (name != "glimpse")


@pytest.mark.parametrize("name", list(MODELS))
def test_predict_prints_top_classes_and_where_the_time_goes(in_project, name):
    skeleton_file, video_file = _sample_files("S001C001P003R001A001")
    output = _invoke(["predict", str(skeleton_file), "--video", str(video_file), "--model", name, "--repeat", "2"])
    lines = output.splitlines()
    assert sum(1 for line in lines if line.strip()[:2] in {f"{k}." for k in range(1, 6)}) == 4  # 4 classes
    timing = next(line for line in lines if line.startswith("preprocessing"))
    assert "read" in timing and "| model" in timing
    assert ("video decode" in timing) == (name != "glimpse")
    assert "sequences/s" in lines[-1]


def test_missing_video_model_and_disagreeing_params_are_named(in_project):
    skeleton_file, video_file = _sample_files(SAMPLE)
    with pytest.raises(SampleError, match=r"'stroi' reads skeleton, stroi.* --video S001C001P002R001A058_rgb.avi"):
        predict.run(skeleton_file, "stroi", None, Path("params.yaml"), 1)
    with pytest.raises(FileNotFoundError, match=r"`dvc pull train_das` or build it with `dvc repro train_das`"):
        predict.run(skeleton_file, "das", Path("nowhere"), Path("params.yaml"), 1, video_file)
    params = load_params()
    params["video"]["variants"]["default"]["crop_size"] = 24
    Path("changed.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=r"video.crop_size=24 but part_crops.zarr.*video.crop_size=16"):
        predict.run(skeleton_file, "das", None, Path("changed.yaml"), 1, video_file)
    stroi = paths.feature_store("stroi")
    shutil.move(stroi, "stroi.moved")
    try:
        with pytest.raises(FileNotFoundError, match=r"stroi.zarr: missing.*`dvc pull video@default` or "
                                                    r"`dvc repro video@default`"):
            predict.run(skeleton_file, "stroi", None, Path("params.yaml"), 1, video_file)
    finally:
        shutil.move("stroi.moved", stroi)


def test_real_1080p_sample_is_preprocessed_as_the_stages_build_it(in_project, tmp_path):
    """The real NTU sample (1920x1080, 103 frames) through the ingest, skeletons and video stages' builders into
    stores of its own, then through predict's per-sample path: the same arrays; predict with an RGB model runs."""
    from har.builders.ingest import ingest_raw
    from har.builders.skeletons import build_skeletons
    from har.builders.video import VideoStores, build_video
    from har.parallel import ComputeSettings
    raw = tmp_path / "raw"
    for folder, file in (("nturgb+d_skeletons", f"{REAL}.skeleton"), ("nturgb+d_rgb", f"{REAL}_rgb.avi")):
        (raw / folder).mkdir(parents=True)
        (raw / folder / file).symlink_to(SAMPLES / file)
    params, spec = load_params(), model_spec("stroi")
    config = predict.section(spec.config_type, "train_stroi", Path("params.yaml"), params)
    settings = predict.stage_settings(Path("params.yaml"), params, spec, config)
    sync = ComputeSettings(scheduler="synchronous", block_size=1)
    ingest_raw(raw, tmp_path / "interim.zarr", tmp_path / "q.csv", sync, progress=False)
    build_skeletons(tmp_path / "interim.zarr", tmp_path / "skeleton.zarr", tmp_path / "q.csv", sync,
                    settings.skeletons, settings.denoise, progress=False)
    stores = VideoStores(tmp_path / "rgb_clips.zarr", tmp_path / "part_crops.zarr", tmp_path / "stroi.zarr")
    build_video(tmp_path / "interim.zarr", raw, stores, tmp_path / "q.csv", sync, settings.video, settings.poses,
                settings.denoise, progress=False)
    computed = sample_arrays(raw / "nturgb+d_skeletons" / f"{REAL}.skeleton", ("skeleton", "stroi"), settings,
                             raw / "nturgb+d_rgb" / f"{REAL}_rgb.avi")
    stored = FeatureStores.open({"skeleton": tmp_path / "skeleton.zarr", "stroi": stores.stroi}).read(0)
    _assert_same_arrays(computed, stored)
    output = _invoke(["predict", str(SAMPLES / f"{REAL}.skeleton"), "--video", str(SAMPLES / f"{REAL}_rgb.avi"),
                      "--model", "stroi", "--repeat", "2"])
    assert "video decode" in output and "sequences/s" in output.splitlines()[-1]
    assert json.loads((tmp_path / "interim.zarr" / "zarr.json").read_text())["attributes"]["source"] == str(raw)
