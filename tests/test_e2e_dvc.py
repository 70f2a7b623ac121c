"""End to end: the real `dvc repro` on params.smoke.yaml in a temporary copy of the repository, then sharing.

Builds every stage (synthetic data -> features -> five models -> report), checks a second repro runs nothing,
pushes to a local-directory remote, clones the repository into a new folder, pulls, and checks that `dvc status`
is clean and every artifact is byte-identical.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


def run(command: list[str], cwd: Path, timeout: int = 900) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n"
                             f"{done.stderr[-4000:]}")
    return done.stdout + done.stderr


def copy_working_tree(destination: Path) -> None:
    """The files git would commit (tracked + untracked, not ignored), as a fresh clone of this tree would have."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not name.startswith("data/"):
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def digests(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "checkpoints" not in path.parts:
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def keys(tree, prefix="") -> set[str]:
    if isinstance(tree, dict):
        return set().union(*[{f"{prefix}{k}"} | keys(v, f"{prefix}{k}.") for k, v in tree.items()]) if tree else set()
    return set()


def test_smoke_params_have_the_same_keys_as_the_defaults():
    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    smoke = yaml.safe_load((ROOT / "params.smoke.yaml").read_text())
    assert keys(smoke) == keys(default)


def test_dvc_repro_push_clone_pull(tmp_path):
    repo = tmp_path / "repo"
    copy_working_tree(repo)
    shutil.copy(repo / "params.smoke.yaml", repo / "params.yaml")
    run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "smoke"], repo)

    log = run(["dvc", "repro"], repo, timeout=1200)
    assert "Running stage 'report'" in log
    summary = json.loads((repo / "data/reports/summary.json").read_text())
    assert sorted(summary) == ["amfi", "das", "epam", "glimpse", "stroi"]
    for name in summary:
        metrics = json.loads((repo / f"data/metrics/{name}.json").read_text())
        assert 0.0 <= metrics["top1"] <= 1.0 and metrics["test_samples"] > 0
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo)
    again = run(["dvc", "repro"], repo)
    assert "Running stage" not in again

    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "shared", str(remote)], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "built"], repo)
    run(["dvc", "push"], repo)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    assert "Data and pipelines are up to date" in run(["dvc", "status"], clone)
    assert digests(clone / "data") == digests(repo / "data")
    assert "Running stage" not in run(["dvc", "repro"], clone)
