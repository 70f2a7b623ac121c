"""params.paper.yaml, each paper's published configuration, stays in step with params.yaml.

The two files must hold the same keys, so neither goes stale when a setting is added or removed. Store variants are
data, not keys: the paper profile has more of them (one per setting the papers disagree on), so every variant of a
section must have exactly the keys of params.yaml's variants of that section. The profile must also load through the
same checks a stage runs (every variant read by a model, every model's variants present, each section's
dataclass), and DVC must expand it into one stage per variant.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from har.train.registry import MODELS, model_spec
from pipeline.params import load_params, section

ROOT = Path(__file__).resolve().parents[1]
VARIANT_SECTIONS = ("skeletons", "poses", "heatmaps", "video")


def key_paths(tree, prefix="") -> set[str]:
    """Dotted paths of every key; the names under a `variants` mapping become `*`."""
    if not isinstance(tree, dict):
        return set()
    out = set()
    for key, value in tree.items():
        path = f"{prefix}{key}"
        out.add(path)
        if key == "variants" and isinstance(value, dict):
            for variant in value.values():
                out |= key_paths(variant, f"{path}.*.")
        else:
            out |= key_paths(value, f"{path}.")
    return out


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_paper_profile_has_the_same_keys_as_the_defaults():
    default, paper = key_paths(load("params.yaml")), key_paths(load("params.paper.yaml"))
    assert not default - paper, f"missing from params.paper.yaml: {sorted(default - paper)}"
    assert not paper - default, f"not in params.yaml: {sorted(paper - default)}"


def test_key_comparison_fails_on_a_stale_profile():
    paper = load("params.paper.yaml")
    del paper["train_das"]["model"]["test_views"]
    paper["video"]["variants"]["das"]["new_key"] = 1
    difference = key_paths(load("params.yaml")) ^ key_paths(paper)
    assert difference == {"train_das.model.test_views", "video.variants.*.new_key"}


def test_paper_profile_loads_through_the_stage_checks():
    path = ROOT / "params.paper.yaml"
    params = load_params(path)  # variants: each read by a model, each model's present
    for name in MODELS:
        spec = model_spec(name)
        config = section(spec.config_type, f"train_{name}", path, params)
        assert set(config.stores) == set(spec.inputs)
    # the papers disagree on these, so the profile holds several variants of them
    assert len(params["skeletons"]["variants"]) == 3 and len(params["video"]["variants"]) == 2


def test_dvc_builds_one_stage_per_paper_variant(tmp_path):
    for name in ("dvc.yaml", "params.paper.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "params.paper.yaml").rename(tmp_path / "params.yaml")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True)
    listed = subprocess.run(["dvc", "stage", "list", "--name-only"], cwd=tmp_path, capture_output=True, text=True,
                            check=True).stdout.split()
    for stage in ("skeletons@t32", "skeletons@t300", "skeletons@raw300", "heatmaps@epam", "video@paper",
                  "video@das", "train_das", "evaluate_stroi"):
        assert stage in listed
