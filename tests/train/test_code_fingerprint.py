"""Checkpoints are reused only by the code that made them.

A glimpse model is trained on a tiny skeleton store by a copy of the project; a second copy with an edited model
file then trains with the same checkpoint folder. It must train again (not skip the finished phase, not resume) and
end with exactly the weights of a from-scratch run of the edited code. Each copy runs in its own interpreter (with
PYTHONPATH on the copy), as `dvc repro` would after the edit.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import har
from har.io.store import atomic_store, create_sample_array, stamp, write_array, write_meta, write_splits
from har.train import checkpoint

ROOT = Path(har.__file__).resolve().parents[1]

SCRIPT = """
import json, sys
from pathlib import Path
import torch
import har
from har.models.glimpse import GlimpseConfig
from har.train import loop, run
from har.train.loop import OptimConfig, PhaseConfig
from har.train.recipes.glimpse import SPEC, GlimpseTrain
from har.train.run import train_model

torch.set_num_threads(1)
trained = []
real_run_epoch = loop.run_epoch


def counting_run_epoch(ctx, phase, optimizer=None):
    if optimizer is not None:
        trained[-1] += 1
    return real_run_epoch(ctx, phase, optimizer)


loop.run_epoch = counting_run_epoch
digested, real_code_digest = [], getattr(run, "code_digest", None)


def recording_code_digest():
    digested.append(sorted(run.project_modules()))
    return real_code_digest()


if real_code_digest is not None:
    run.code_digest = recording_code_digest
config = GlimpseTrain(seed=0, val_fraction=0.5, device="cpu", eval_batch_size=8,
                      model=GlimpseConfig(hidden=8, layers=1, joint_attention_hidden=8),
                      fit=PhaseConfig(epochs=2, batch_size=4, optim=OptimConfig(lr=0.01)))
store, jobs = Path(sys.argv[1]), sys.argv[2:]
for checkpoints, out in zip(jobs[::2], jobs[1::2]):
    trained.append(0)
    train_model(SPEC, config, {"skeleton": store}, Path(out), Path(checkpoints), progress=False)
print(json.dumps({"har": har.__file__, "epochs_trained": trained, "digested": digested,
                  "loaded": sorted(run.project_modules()) if digested else []}))
"""


def make_skeleton_store(path: Path) -> Path:
    """16 samples of 2 persons x 8 frames x 25 joints; subjects 1, 2, 4, 5 train, 3 tests; 2 separable classes."""
    rng = np.random.default_rng(0)
    names = [f"S001C001P{p:03d}R00{r}A{a:03d}" for p in (1, 2, 3, 4, 5) for r in (1, 2) for a in (1, 2)]
    labels = [int(n[-3:]) - 1 for n in names]
    subjects = [int(n[9:12]) for n in names]
    x = rng.normal(0, 1, (len(names), 2, 8, 25, 3)).astype(np.float32) + np.array(labels, np.float32)[
        :, None, None, None, None]
    with atomic_store(path) as group:
        array = create_sample_array(group, "x", len(names), x.shape[1:], np.float32, per_shard=4)
        array[...] = x
        write_array(group, "length", np.full(len(names), 8, np.int32))
        write_meta(group, {"sample": names, "label": labels, "setup": [1] * len(names), "camera": [1] * len(names),
                           "subject": subjects, "replication": [int(n[13:16]) for n in names]})
        train = [i for i, s in enumerate(subjects) if s != 3]
        write_splits(group, {"xsub": {"train": train, "test": [i for i, s in enumerate(subjects) if s == 3]}})
        stamp(group, artifact="skeleton")
    return path


def copy_project(target: Path) -> Path:
    for package in ("har", "pipeline"):
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def train_with(project: Path, store: Path, *jobs: Path) -> dict:
    """Run SCRIPT with `project` first on the path on (checkpoints, out) job pairs: {epochs_trained (per job),
    digested (project modules loaded at each code_digest), loaded (those loaded at the end)}."""
    script = project.parent / "train_glimpse.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(store), *map(str, jobs)], cwd=project.parent, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["har"]).resolve().is_relative_to(project.resolve())  # the copy ran, not the install
    return result


def assert_digest_was_complete(result: dict) -> None:
    """Each run digested the code once, when every project module its training used was already loaded."""
    assert len(result["digested"]) == len(result["epochs_trained"]), "code_digest not called once per run"
    for digested in result["digested"]:
        assert digested == result["loaded"] and {"har.train.checkpoint", "har.models.glimpse"} <= set(digested)


def weights(model_dir: Path) -> dict:
    return checkpoint.load(model_dir / "model.pt", torch.device("cpu"))["model"]


def test_changed_model_code_retrains_to_the_weights_of_a_fresh_run(tmp_path):
    store = make_skeleton_store(tmp_path / "skeleton.zarr")
    original = copy_project(tmp_path / "original" / "src")
    changed = copy_project(tmp_path / "changed" / "src")
    model_file = changed / "har" / "models" / "glimpse.py"
    source = model_file.read_text()
    scaled = "return torch.softmax(self.score(frames), dim=-1) * self.joints"
    assert source.count(scaled) == 1
    model_file.write_text(source.replace(scaled, scaled + " * 0.5"))  # alters every forward pass
    checkpoints, out = tmp_path / "checkpoints", tmp_path / "models"

    # unchanged code: trained once, then the finished phase is reused (the fingerprint is stable)
    first = train_with(original, store, checkpoints, out / "original", checkpoints, out / "again")
    assert first["epochs_trained"] == [2, 0]
    # changed code in the same checkpoint folder trains again, like a from-scratch run in a fresh folder
    second = train_with(changed, store, checkpoints, out / "changed", tmp_path / "fresh", out / "fresh")
    assert second["epochs_trained"] == [2, 2]
    assert_digest_was_complete(first)
    assert_digest_was_complete(second)

    before, rerun, fresh = weights(out / "original"), weights(out / "changed"), weights(out / "fresh")
    assert rerun.keys() == fresh.keys()
    for key in fresh:
        assert torch.equal(rerun[key], fresh[key]), key
    assert any(not torch.equal(before[key], rerun[key]) for key in before)  # the edit did change training
    for name in ("history.json", "split.json"):
        assert (out / "changed" / name).read_bytes() == (out / "fresh" / name).read_bytes()
    done = json.loads((checkpoints / "train.done.json").read_text())
    assert done["fingerprint"] == json.loads((tmp_path / "fresh" / "train.done.json").read_text())["fingerprint"]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["train.best.pt", "train.done.json"]


def test_fingerprint_covers_loaded_code_and_library_versions(tmp_path, monkeypatch):
    from har.train.data import FeatureStores
    from har.train.recipes.glimpse import SPEC, GlimpseTrain
    from har.train.run import code_digest, fingerprint

    stores = FeatureStores.open({"skeleton": make_skeleton_store(tmp_path / "skeleton.zarr")})
    config = GlimpseTrain()
    base = fingerprint(SPEC, config, stores)
    assert base == fingerprint(SPEC, config, stores, code=code_digest())
    assert base != fingerprint(SPEC, config, stores, code="other code")
    for module, version in ((torch, "0.0.1"), (np, "0.0.1")):
        with monkeypatch.context() as patch:
            patch.setattr(module, "__version__", version)
            assert fingerprint(SPEC, config, stores) != base, module.__name__
    # the late keys are ignored by the stream fingerprint, the code is not
    assert fingerprint(SPEC, config, stores, ignore=("fit",)) != fingerprint(SPEC, config, stores, ignore=("fit",),
                                                                             code="other code")


def test_fingerprint_covers_the_bytes_of_the_init_checkpoint_file(tmp_path):
    """DVC sees only the init_checkpoint path: new weights at the same path must not reuse old checkpoints."""
    from har.train.data import FeatureStores
    from har.train.recipes.stroi import SPEC, StroiTrain
    from har.train.run import fingerprint

    stores = FeatureStores.open({"skeleton": make_skeleton_store(tmp_path / "skeleton.zarr")})
    weights = tmp_path / "resnet18.pth"
    torch.save({"conv1.weight": torch.zeros(2)}, weights)
    config = StroiTrain(init_checkpoint=str(weights))
    first = fingerprint(SPEC, config, stores, code="c")
    torch.save({"conv1.weight": torch.ones(2)}, weights)
    assert fingerprint(SPEC, config, stores, code="c") != first
    # the stream phase (ST-GCN) does not read the file: its fingerprint ignores it with the late key
    stream = fingerprint(SPEC, config, stores, ignore=SPEC.late_keys, code="c")
    torch.save({"conv1.weight": torch.zeros(2)}, weights)
    assert fingerprint(SPEC, config, stores, ignore=SPEC.late_keys, code="c") == stream
