"""Each shared setting has one home in params.yaml (and params.smoke.yaml), and dvc.yaml lists it where it is read.

`denoise` is read by the skeletons, heatmaps and video stages, the pose views (`poses.variants`) by the heatmaps and
video variants that name them; the keys that used to copy them (and EPAM's copy of the heatmap sigma) are refused
with a pointer to their new home.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from har.config import ConfigError
from pipeline.params import STAGE_SECTIONS, load_params, section

ROOT = Path(__file__).resolve().parents[1]
PARAMS_FILES = ("params.yaml", "params.smoke.yaml")


def _key_paths(node, prefix=""):
    """Every dotted key of a nested mapping ('video', 'video.clip_frames', ...) in file order."""
    paths = []
    for key, value in node.items():
        paths.append(f"{prefix}{key}")
        if isinstance(value, dict):
            paths += _key_paths(value, f"{prefix}{key}.")
    return paths


@pytest.mark.parametrize("name", PARAMS_FILES)
def test_shared_settings_are_written_once(name):
    paths = _key_paths(yaml.safe_load((ROOT / name).read_text()))
    assert [p for p in paths if "denoise" in p.split(".")] == [p for p in paths if p.startswith("denoise")]
    assert [p for p in paths if p.endswith("max_actors")] == ["denoise.max_actors"]
    assert [p for p in paths if p.endswith("box_padding")] == ["poses.variants.default.box_padding"]
    assert [p for p in paths if "sigma" in p] == ["heatmaps.variants.default.sigma"]
    assert [p for p in paths if p.endswith("pose_frames")] == ["train_epam.model.pose_frames"]
    assert [p for p in paths if p.endswith(".frames") and p.count(".") == 3] == [
        "skeletons.variants.default.frames", "poses.variants.default.frames"]
    # the heatmaps and video variants name their pose view, never copy it
    assert [p for p in paths if p.endswith(".poses")] == ["heatmaps.variants.default.poses",
                                                           "video.variants.default.poses"]
    assert {"denoise", "poses"} <= set(load_params(ROOT / name)) <= STAGE_SECTIONS | {
        f"train_{m}" for m in ("glimpse", "epam", "amfi", "das", "stroi")}


def test_data_stages_list_the_shared_sections_they_read():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert stages["skeletons"]["do"]["params"] == ["skeletons.variants.${key}", "denoise"]
    assert stages["heatmaps"]["do"]["params"] == ["heatmaps.variants.${key}", "poses.variants.${item.poses}",
                                                  "denoise"]
    # the source: skeletons.zarr's record
    assert stages["video"]["do"]["params"] == ["video.variants.${key}", "poses.variants.${item.poses}", "denoise"]
    assert "${ingest.source}" in stages["video"]["do"]["deps"]  # the videos live there
    assert stages["train_epam"]["params"] == ["train_epam"]  # sigma and frames come from the stores it reads


def _removed():
    from har.builders.heatmaps import HeatmapOptions
    from har.builders.skeletons import SkeletonOptions
    from har.builders.video import VideoOptions
    from har.train.recipes.epam import EpamTrain
    return [
        (EpamTrain, "train_epam", "heatmap_sigma", 0.6, "heatmaps.sigma"),
        (EpamTrain, "train_epam", "heatmap_limbs", False, "heatmaps.limbs"),
        (EpamTrain, "train_epam", "heatmaps", {"sigma": 0.6, "limbs": False}, "is not a params key"),
        (HeatmapOptions, "heatmaps", "frames", 32, "poses.frames"),
        (HeatmapOptions, "heatmaps", "box_padding", 0.25, "poses.box_padding"),
        (HeatmapOptions, "heatmaps", "denoise", {"max_actors": 2}, "top-level `denoise`"),
        (VideoOptions, "video", "pose_frames", 32, "poses.frames"),
        (VideoOptions, "video", "box_padding", 0.25, "poses.box_padding"),
        (VideoOptions, "video", "denoise", {"max_actors": 2}, "top-level `denoise`"),
        (SkeletonOptions, "skeletons", "denoise", {"max_actors": 2}, "top-level `denoise`"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_removed_copies_are_refused_naming_the_key_and_its_home(case, tmp_path):
    cls, name, key, value, home = _removed()[case]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    file = tmp_path / "params.yaml"
    if name.startswith("train_"):
        params[name][key] = value
        file.write_text(yaml.safe_dump(params))
        with pytest.raises(ConfigError, match=rf"params.yaml:{name}: key '{key}' .*{home}") as error:
            section(cls, name, file)
    else:  # a feature stage: the key sits in its variant
        params[name]["variants"]["default"][key] = value
        file.write_text(yaml.safe_dump(params))
        with pytest.raises(ConfigError, match=rf"params.yaml:{name}.variants.default: key '{key}' .*{home}") \
                as error:
            _variant_options(name, load_params(file), file)
    assert home in str(error.value)


def _variant_options(stage: str, params: dict, file: Path):
    from har.builders.skeletons import SkeletonOptions
    from har.config import from_mapping
    from pipeline import heatmaps, video
    from pipeline.params import variant_settings
    if stage == "skeletons":
        return from_mapping(SkeletonOptions, variant_settings(params, stage, "default", file),
                            f"{file}:skeletons.variants.default")
    return {"heatmaps": heatmaps, "video": video}[stage].variant_options(params, "default", file)
