"""End to end: the real `dvc repro` on params.smoke.yaml in a temporary copy of the repository, then sharing.

Builds every stage (synthetic data -> features -> five models -> report) with every project module each stage
loads traced, and checks what the smoke pipeline must produce: the stores' shapes and sample order, empty
quarantines, every metrics file with its keys and intervals, the report's rows, dvc.yaml deps covering every module
a stage loads (and no torch in a data stage), a second repro that runs nothing; then pushes to a local-directory
remote, clones, pulls (byte-identical, `dvc status` clean), rebuilds the data stages and glimpse from scratch in the
clone and checks they reproduce the committed hashes; finally the team setup: pushes to an `ssh://` remote served by
a real sshd on 127.0.0.1 (key auth only, tests/ssh_server.py) and a fresh clone that can reach only that remote runs
`dvc repro --pull`, recomputing nothing, byte-identical.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
import zarr

from tests.ssh_server import serve_sshd

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


def run(command: list[str], cwd: Path, timeout: int = 900, env: dict | None = None) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", **(env or {})}
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


SAMPLES = 24  # params.smoke.yaml: 4 actions x 3 subjects x 2 cameras x 1 replication
# Shapes params.smoke.yaml must give (N first); a change there must update these on purpose.
STORE_ARRAYS = {
    "features/skeleton/default.zarr": ("x", (SAMPLES, 2, 8, 25, 3)),
    "features/heatmaps/default.zarr": ("heatmaps", (SAMPLES, 25, 8, 16, 16)),
    "features/video/default/rgb_clips.zarr": ("clips", (SAMPLES, 8, 32, 32, 3)),
    "features/video/default/part_crops.zarr": ("crops", (SAMPLES, 3, 8, 16, 16, 3)),
    "features/video/default/stroi.zarr": ("mosaic", (SAMPLES, 80, 80, 3)),
}
STREAMS = {"glimpse": set(), "epam": {"rgb", "pose"}, "amfi": {"rgb", "skeleton"},
           "das": {"left_hand", "right_hand", "full_body", "pose"}, "stroi": {"rgb", "skeleton"}}
DATA_STAGES = ("synth", "ingest", "skeletons", "heatmaps", "video", "export_pyskl")  # foreach groups: every variant


def check_stores(data: Path) -> None:
    """Every feature store holds the 24 samples in the interim store's order, with the smoke shapes and splits."""
    interim = zarr.open_group(data / "interim/skeletons.zarr", mode="r")
    order = interim["sample"][:].tolist()
    assert len(order) == SAMPLES and order == sorted(order)
    for store, (array, shape) in STORE_ARRAYS.items():
        group = zarr.open_group(data / store, mode="r")
        assert group[array].shape == shape, store
        assert group["sample"][:].tolist() == order, store
        train, test = group["splits/xsub_train"][:], group["splits/xsub_test"][:]
        assert len(train) and len(test) and not set(train) & set(test), store
    for report in ("ingest_quarantine", "skeletons_quarantine/default", "heatmaps_quarantine/default",
                   "video_quarantine/default"):
        rows = (data / f"reports/{report}.csv").read_text().splitlines()
        assert rows == ["sample,reason"], f"{report} quarantined {rows[1:]}"


def check_interval(entry: dict, where: str) -> None:
    for key in ("top1", "macro_f1"):
        low, high = entry[f"{key}_ci95"]
        assert 0.0 <= low <= entry[key] <= high <= 1.0, f"{where}: {key} {entry[key]} outside [{low}, {high}]"


def check_live(live: Path, metrics: dict, streams: set[str]) -> None:
    """dvclive's files of a model: the evaluation's headline metrics (equal to the detailed JSON's), its confusion
    matrix over the whole test split, and one training step per epoch of every phase (as history.json), with each
    phase's best epoch; no timestamp anywhere, no dvc.yaml written by dvclive."""
    evaluated = json.loads((live / "eval/metrics.json").read_text())
    for key in ("top1", "top5", "macro_f1"):
        assert evaluated[key] == metrics[key], key
    assert [evaluated["top1_ci95"]["low"], evaluated["top1_ci95"]["high"]] == metrics["top1_ci95"]
    assert {k: v["top1"] for k, v in evaluated.get("streams", {}).items()} == \
        {k: metrics["streams"][k]["top1"] for k in streams}
    confusion = json.loads((live / "eval/plots/sklearn/confusion_matrix.json").read_text())
    assert len(confusion) == metrics["test_samples"] and set(confusion[0]) == {"actual", "predicted"}
    history = json.loads((live.parents[1] / f"models/{live.name}/history.json").read_text())
    trained = json.loads((live / "train/metrics.json").read_text())
    assert trained["step"] == len(history) - 1
    phases = {row["phase"] for row in history}
    assert phases <= set(trained) and all("best_epoch" in trained[phase] for phase in phases)
    for phase in phases:
        rows = (live / f"train/plots/metrics/{phase}/val/loss.tsv").read_text().splitlines()
        steps = [step for step, row in enumerate(history) if row["phase"] == phase]
        assert rows[0].split("\t") == ["step", "loss"] and [int(r.split("\t")[0]) for r in rows[1:]] == steps
    text = "".join(p.read_text() for p in live.rglob("*") if p.is_file())
    assert "timestamp" not in text and not list(live.rglob("dvc.yaml"))


def check_metrics(data: Path) -> None:
    """Each model's metrics: test size, keys, intervals, its streams and their paired comparisons; the report."""
    test_size = zarr.open_group(data / "features/skeleton/default.zarr", mode="r")["splits/xsub_test"].shape[0]
    summary = json.loads((data / "reports/summary.json").read_text())
    table = (data / "reports/summary.md").read_text()
    assert sorted(summary) == sorted(STREAMS)
    for name, streams in STREAMS.items():
        metrics = json.loads((data / f"metrics/{name}.json").read_text())
        assert metrics["model"] == name and metrics["benchmark"] == "xsub"
        assert metrics["test_samples"] == test_size
        assert 0.0 <= metrics["top1"] <= metrics["top5"] <= 1.0
        check_interval(metrics, name)
        assert set(metrics["streams"]) == streams
        for stream, entry in metrics["streams"].items():
            check_interval(entry, f"{name}.{stream}")
        assert set(metrics.get("comparisons", {})) == streams
        for stream, comparison in metrics.get("comparisons", {}).items():
            assert comparison["verdict"] in ("better", "worse", "no significant difference"), (name, stream)
        check_live(data / f"live/{name}", metrics, streams)
        saved = torch.load(data / f"models/{name}/model.pt", weights_only=True)
        assert saved["spec"] == name and saved["model"]
        assert json.loads((data / f"models/{name}/history.json").read_text()), name
        row = summary[name]
        assert row["top1"] == metrics["top1"] and row["test_samples"] == test_size
        assert row["parameters"] > 0 and row["gflops_per_sample"] > 0
        assert f"| {name} |" in table


def stage_definitions(repo: Path) -> dict[str, tuple[str, dict]]:
    """Trace name (DVC's stage name, `@` as `-`: `skeletons-default`) -> (dvc.yaml stage or foreach group, its
    definition), one per variant of a foreach group (`foreach: ${<section>.variants}` in params.yaml)."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    out = {}
    for name, stage in stages.items():
        if "foreach" not in stage:
            out[name] = (name, stage)
            continue
        variants = params
        for key in stage["foreach"].strip("${}").split("."):
            variants = variants[key]
        out.update({f"{name}-{variant}": (name, stage["do"]) for variant in variants})
    return out


def check_deps(repo: Path, traces: Path) -> None:
    """Every project module each stage loaded is one of its dvc.yaml deps (or under one); no torch in data stages."""
    stages = stage_definitions(repo)
    records = {p.stem: json.loads(p.read_text()) for p in traces.glob("*.json")}
    assert set(records) == set(stages), sorted(set(stages) ^ set(records))
    problems = []
    for name, record in records.items():
        group, stage = stages[name]
        deps = [d.rstrip("/") for d in stage.get("deps", [])]
        missing = [m for m in record["modules"] if not any(m == d or m.startswith(f"{d}/") for d in deps)]
        if missing:
            problems.append(f"{name}: deps miss {missing}")
        if group in DATA_STAGES and record["torch"]:
            problems.append(f"{name}: a data stage imported torch")
    assert not problems, "\n".join(problems)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def check_ssh_round_trip(repo: Path, folder_remote: Path, tmp_path: Path) -> None:
    """The built project pushed to an ssh:// remote (its keyfile in the git-ignored .dvc/config.local) holds exactly
    the folder remote's objects; a fresh clone, with the folder remote gone and only its key configured, runs
    `dvc repro --pull`: every stage's outputs come over SSH, nothing runs, every byte equals the first clone's."""
    with serve_sshd(tmp_path / "sshd") as server:
        storage = tmp_path / "ssh-storage"
        run(["dvc", "remote", "add", "team", server.url(storage)], repo)
        run(["dvc", "remote", "modify", "--local", "team", "keyfile", str(server.keyfile)], repo)
        run(["git", "commit", "-qam", "team remote"], repo)
        pushed = run(["dvc", "push", "-r", "team"], repo)
        objects = files_under(storage)
        assert objects == files_under(folder_remote) and f"{len(objects)} files pushed" in pushed, pushed[-2000:]
        folder_remote.rename(folder_remote.with_name("remote-offline"))  # the team clone can only use SSH
        team = tmp_path / "team"
        run(["git", "clone", "-q", str(repo), str(team)], tmp_path)
        assert "keyfile" not in (team / ".dvc/config").read_text()
        run(["dvc", "remote", "default", "--local", "team"], team)
        run(["dvc", "remote", "modify", "--local", "team", "keyfile", str(server.keyfile)], team)
        log = run(["dvc", "repro", "--pull"], team)
        assert "Running stage" not in log and "Data and pipelines are up to date" in log, log[-4000:]
        assert digests(team / "data") == digests(repo / "data")
        assert "Data and pipelines are up to date" in run(["dvc", "status"], team)


def test_dvc_repro_push_clone_pull(tmp_path):
    repo = tmp_path / "repo"
    copy_working_tree(repo)
    params = yaml.safe_load((repo / "params.smoke.yaml").read_text())
    # One process, so the trace sees every module the stage loads (compute settings change no output byte).
    params["compute"]["scheduler"] = "synchronous"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "smoke"], repo)

    traces = tmp_path / "traces"
    log = run(["dvc", "repro"], repo, timeout=1200, env={"HAR_TRACE_MODULES": str(traces)})
    assert "Running stage 'report'" in log
    check_stores(repo / "data")
    check_metrics(repo / "data")
    check_deps(repo, traces)
    assert "Data and pipelines are up to date" in run(["dvc", "status"], repo)
    listed = run(["dvc", "exp", "show", "--json"], repo)  # the metrics files and their values
    for name in STREAMS:
        assert f"data/live/{name}/eval/metrics.json" in listed and f"data/live/{name}/train/metrics.json" in listed
    rendered = json.loads(subprocess.run(["dvc", "plots", "show", "--json"], cwd=repo, capture_output=True,
                                         text=True, check=True).stdout)
    assert not rendered.get("errors") and "das_attention" in rendered["data"]
    for name in STREAMS:  # the confusion matrix and the training curves (one file per phase and metric)
        assert rendered["data"][f"{name}_confusion"], name
        history = json.loads((repo / f"data/models/{name}/history.json").read_text())
        for phase in {row["phase"] for row in history}:
            assert rendered["data"][f"data/live/{name}/train/plots/metrics/{phase}/val/loss.tsv"], (name, phase)
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

    # Truthful rebuilds: the data stages and a model rebuilt from scratch reproduce what was pushed.
    for stage in DATA_STAGES:
        run(["dvc", "repro", "--force", "--single-item", stage], clone)
    assert "Data and pipelines are up to date" in run(["dvc", "status", *DATA_STAGES], clone)
    run(["dvc", "repro", "--force", "--single-item", "train_glimpse"], clone)
    model = "data/models/glimpse/model.pt"
    assert (clone / model).read_bytes() == (repo / model).read_bytes()

    check_ssh_round_trip(repo, remote, tmp_path)  # the team setup
