"""The har-prep CLI: help everywhere, strict params, and the skeleton path from synthetic data to `predict`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from har.config import ConfigError
from pipeline import skeletons as skeletons_stage
from pipeline.cli import app
from pipeline.params import load_params

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "ntu-samples" / "S001C001P001R001A001.skeleton"
runner = CliRunner()


@pytest.mark.parametrize("command", [[], ["synth"], ["ingest"], ["skeletons"], ["heatmaps"], ["video"], ["train"],
                                     ["evaluate"], ["predict"], ["report"], ["inspect"], ["show"],
                                     ["show", "heatmaps"], ["show", "clips"], ["show", "crops"], ["show", "stroi"]])
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_unknown_keys_and_sections_are_named(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["skeletons"]["variants"]["default"]["frmes"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match="skeletons.variants.default: unknown key 'frmes'"):
        skeletons_stage.run(tmp_path / "params.yaml", "default", progress=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train_glimse"] = {}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match="unknown section 'train_glimse'"):
        load_params(tmp_path / "params.yaml")


def test_skeleton_path_from_synthetic_data_to_predict(tmp_path, monkeypatch):
    params = yaml.safe_load((ROOT / "params.smoke.yaml").read_text())
    params["ingest"]["source"] = "raw"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    for command in (["synth", "raw", "--quiet"], ["ingest", "--quiet"], ["skeletons", "--quiet"],
                    ["train", "glimpse", "--quiet"], ["evaluate", "glimpse"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, f"{command}: {result.output}\n{result.exception!r}"
    assert (tmp_path / "data/metrics/glimpse.json").exists()
    assert (tmp_path / "data/plots/glimpse/samples/montage.png").exists()
    shutil.copy(SAMPLE, tmp_path / SAMPLE.name)
    result = runner.invoke(app, ["predict", SAMPLE.name, "--repeat", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(1 for line in lines if line.strip()[:2] in {f"{k}." for k in range(1, 6)}) == 4  # tiny: 4 classes
    assert "sequences/s" in lines[-1]
    result = runner.invoke(app, ["inspect", "data/features/skeleton/default.zarr"])
    assert result.exit_code == 0 and "x " in result.output
    (tmp_path / "bad.skeleton").write_text("2\r\n1\r\n")
    result = runner.invoke(app, ["predict", "bad.skeleton"])
    assert result.exit_code == 1 and "error: bad.skeleton, line 3" in result.output
