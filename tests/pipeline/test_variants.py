"""Store variants: params `<stage>.variants.<name>`, each model's `train_<model>.stores`, dvc.yaml's foreach stages.

The params check (pipeline.params.check_variants, run whenever params load) refuses a variant no model reads and a
model naming a variant that does not build its store; store paths follow the variant names.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from har.config import ConfigError
from har.train.registry import model_spec
from pipeline import paths
from pipeline.params import MODEL_NAMES, MODEL_STORES, load_params

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _load(tmp_path: Path, params: dict) -> dict:
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump(params))
    return load_params(file)


def test_model_stores_are_the_registry_inputs():
    assert {name: model_spec(name).inputs for name in MODEL_NAMES} == MODEL_STORES


def test_a_second_variant_read_by_a_model_is_accepted_and_has_its_own_paths(tmp_path):
    params = copy.deepcopy(DEFAULTS)
    params["skeletons"]["variants"]["t300"] = {"frames": 300, "align_view": True, "centre": "per_frame"}
    params["poses"]["variants"]["das"] = {"frames": 68, "box_padding": 0.25}
    params["video"]["variants"]["das"] = {**params["video"]["variants"]["default"], "stores": ["part_crops"],
                                          "poses": "das", "clip_frames": 68}
    params["video"]["variants"]["default"]["stores"] = ["rgb_clips", "stroi"]
    params["train_amfi"]["stores"]["skeleton"] = "t300"
    params["train_das"]["stores"]["part_crops"] = "das"
    _load(tmp_path, params)
    assert paths.feature_stores(params["train_das"]["stores"]) == {
        "skeleton": Path("data/features/skeleton/default.zarr"),
        "part_crops": Path("data/features/video/das/part_crops.zarr")}
    assert paths.feature_store("skeleton", "t300") == Path("data/features/skeleton/t300.zarr")


@pytest.mark.parametrize("edit, message", [
    (lambda p: p["skeletons"]["variants"].update(t300={"frames": 300}),
     r"skeletons.variants.t300: variant 't300' builds skeleton, which no model reads"),
    (lambda p: p["video"]["variants"].update(das={**p["video"]["variants"]["default"], "stores": ["part_crops"]}),
     r"video.variants.das: variant 'das' builds part_crops, which no model reads.*drop part_crops from its stores"),
    (lambda p: p["train_glimpse"]["stores"].update(skeleton="t300"),
     r"train_glimpse.stores.skeleton: no variant 't300' of skeletons builds skeleton \(variants that do: default"),
    (lambda p: p["video"]["variants"]["default"].update(stores=["rgb_clips", "part_crops"]),
     r"train_stroi.stores.stroi: no variant 'default' of video builds stroi.*list stroi in its stores"),
    (lambda p: p["train_epam"].update(stores={"rgb_clips": "default"}),
     r"train_epam.stores: expected the variant of each store the model reads \(rgb_clips, heatmaps\)"),
    (lambda p: p["video"]["variants"]["default"].update(stores=["clips"]),
     r"video.variants.default.stores: expected a non-empty list of distinct stores"),
    (lambda p: p["heatmaps"]["variants"]["default"].update(poses="p48"),
     r"heatmaps.variants.default.poses: expected the name of a pose view under poses.variants \(default\)"),
    (lambda p: p["poses"]["variants"].update(p48={"frames": 48}),
     r"poses.variants.p48: no heatmaps or video variant names this pose view"),
    (lambda p: p["skeletons"].update(frames=32),
     r"skeletons: expected `variants:`"),
    (lambda p: p["skeletons"]["variants"].update({"a b": {}}),
     r"skeletons.variants.a b: a variant name must be letters, digits and _"),
])
def test_bad_variants_are_refused_naming_the_key(tmp_path, edit, message):
    params = copy.deepcopy(DEFAULTS)
    edit(params)
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, params)


def test_dvc_yaml_builds_one_stage_per_variant_and_models_depend_on_the_variant_they_name():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage in ("skeletons", "heatmaps", "video"):
        assert stages[stage]["foreach"] == f"${{{stage}.variants}}"
        assert "--variant ${key}" in stages[stage]["do"]["cmd"]
        assert f"{stage}.variants.${{key}}" in stages[stage]["do"]["params"]
    assert "data/features/video/${key}" in stages["video"]["do"]["outs"]
    for model, stores in MODEL_STORES.items():
        for stage in (f"train_{model}", f"evaluate_{model}"):
            expected = {str(paths.feature_store(store, f"${{train_{model}.stores.{store}}}")) for store in stores}
            assert expected <= set(stages[stage]["deps"]), stage
