"""Expected errors of `har-prep` print one `error: ...` line on stderr (exit 1, usage errors 2); `--debug` shows the
traceback; a bug always shows it. Each case runs the real CLI in a subprocess, as a user would."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.cli import app

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "ntu-samples"
NAME = "S001C001P001R001A001"


def har_prep(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HAR_TRACE_MODULES", None)
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=300)


def assert_one_line(result: subprocess.CompletedProcess, *names: str, code: int = 1) -> str:
    """The error line, after checking: exit code, exactly one stderr line starting `error: `, naming `names`."""
    lines = result.stderr.splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A project folder with params (fail_fast on, in-process scheduler) and a raw folder of one real sample."""
    root = tmp_path_factory.mktemp("cli_errors")
    params = yaml.safe_load((ROOT / "params.smoke.yaml").read_text())
    params["ingest"].update(source="raw", fail_fast=True)
    params["video"]["variants"]["default"]["fail_fast"] = True
    params["compute"]["scheduler"] = "synchronous"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "raw" / "nturgb+d_skeletons").mkdir(parents=True)
    shutil.copy(SAMPLES / f"{NAME}.skeleton", root / "raw" / "nturgb+d_skeletons")
    return root


def test_missing_store_before_ingest_and_missing_inspect_target(workdir):
    assert_one_line(har_prep(workdir, "skeletons"), "data/interim/skeletons.zarr", "no zarr store")
    assert_one_line(har_prep(workdir, "inspect", "missing.zarr"), "missing.zarr")
    assert_one_line(har_prep(workdir, "show", "stroi", NAME), "data/features/video/default/stroi.zarr")


def test_unknown_model_and_missing_trained_model(workdir):
    line = assert_one_line(har_prep(workdir, "evaluate", "glimse"), "'glimse'", "glimpse, epam")
    assert "\\" not in line and not line.startswith("error: \"")  # the message, not a KeyError's repr
    assert_one_line(har_prep(workdir, "evaluate", "stroi"), "data/models/stroi/model.pt", "dvc pull train_stroi",
                    "dvc repro train_stroi")


def test_unknown_params_key(workdir, tmp_path):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["skeletons"]["variants"]["default"]["frmes"] = 3
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(params))
    assert_one_line(har_prep(workdir, "skeletons", "--params", str(tmp_path / "typo.yaml")), "typo.yaml",
                    "skeletons", "'frmes'")
    assert_one_line(har_prep(workdir, "skeletons", "--params", "nowhere.yaml"), "nowhere.yaml")


def test_usage_errors_exit_2_on_one_line(workdir):
    assert_one_line(har_prep(workdir, "evaluate"), "'model'", "har-prep evaluate --help", code=2)
    assert_one_line(har_prep(workdir, "--bogus"), "--bogus", code=2)
    assert_one_line(har_prep(workdir, "show", "nope"), "'nope'", code=2)


def test_malformed_skeleton_then_missing_video_then_debug(workdir, tmp_path):
    shutil.copytree(workdir, tmp_path, dirs_exist_ok=True)
    bad = tmp_path / "raw" / "nturgb+d_skeletons" / f"{NAME}.skeleton"
    bad.write_text("\r\n".join(bad.read_text().splitlines()[:6]) + "\r\n0.1 0.2\r\n")  # joint 3 of 25: 2 tokens
    result = har_prep(tmp_path, "ingest")  # with progress bars on: none may be left on stderr
    assert_one_line(result, f"{NAME}.skeleton", "line 7")
    debug = har_prep(tmp_path, "--debug", "ingest", "--quiet")
    assert debug.returncode == 1 and debug.stderr.startswith("Traceback (most recent call last)")  # plain, no Rich
    assert "IngestError" in debug.stderr.splitlines()[-1] and len(debug.stderr.splitlines()) > 5
    shutil.copy(SAMPLES / f"{NAME}.skeleton", bad)
    assert har_prep(tmp_path, "ingest", "--quiet").returncode == 0
    assert_one_line(har_prep(tmp_path, "video", "--quiet"), "raw", "nturgb+d_rgb")  # no video folder
    (tmp_path / "raw" / "nturgb+d_rgb").mkdir()
    assert_one_line(har_prep(tmp_path, "video", "--quiet"), f"{NAME}_rgb.avi", "missing")


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    import pipeline.inspect

    expected = CliRunner().invoke(app, ["inspect", str(tmp_path / "none.zarr")])
    assert expected.exit_code == 1 and expected.output.startswith("error: ") and "none.zarr" in expected.output

    def broken(path, sample=None):
        raise ZeroDivisionError("a bug, not an expected error")

    monkeypatch.setattr(pipeline.inspect, "describe", broken)
    result = CliRunner().invoke(app, ["inspect", str(tmp_path)])
    assert isinstance(result.exception, ZeroDivisionError) and "error:" not in result.output
