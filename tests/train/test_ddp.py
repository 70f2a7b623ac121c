"""DDP through torchrun: 2 CPU processes (gloo) train and evaluate like 1 process with the same global batch.

One script trains glimpse (one phase, no BatchNorm) and stroi (three phases: ST-GCN alone, then the ResNet with the
GCN frozen, then both; BatchNorm everywhere), evaluates both on the test split and, for glimpse, interrupts a run
and resumes it. It runs once as a plain single process and once under the real engine,
`python -m torch.distributed.run --standalone --nproc_per_node=2` (a free rendezvous port, so parallel test runs do
not clash). The tiny data has 17 fit samples, so glimpse's global batch of 4 ends with a 1-sample batch (one rank
repeats a sample with weight 0) and stroi's batch of 6 ends with 5 samples split 3 + 2 (loss weights 1.2 and 0.8).

Exact equality cannot hold between the two runs: DDP sums the two ranks' half-batch gradients (a different
floating-point summation order than one full-batch backward), the global BatchNorm statistics are sums of two
partial sums, and the loss/accuracy totals are summed per rank. The differences start at float32 rounding
(~1e-7 relative) and grow through a few SGD/Adam steps; the tolerances below (RTOL, ATOL) hold them with a wide
margin while a real error (a missing gradient average, per-rank BatchNorm, a wrong share) exceeds them by orders of
magnitude. What IS exact: the epochs run, the best epochs, the predicted classes, the order and the set of test
samples (each once), the state-dict keys (no `module.` prefix), and a resumed 2-process run equals an uninterrupted
one bit for bit.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from har.io.store import atomic_store, create_sample_array, stamp, write_array, write_meta, write_splits
from har.train import checkpoint, distributed

RTOL, ATOL = 1e-4, 1e-5  # weights, losses and logits of 2 processes vs 1 (measured: at most 4e-7 apart)
# Parameters without effect on any output: glimpse's temporal attention bias is added to every frame's score
# before a softmax over frames, so its true gradient is 0 and what backward gives is rounding noise, which Adam
# divides by that noise's own RMS: it moves by lr-sized steps of random sign (measured 5.5e-3 apart). The logits,
# compared below, show it is harmless.
NO_EFFECT = {"glimpse": {"temporal_score.bias"}}

SCRIPT = r"""
import faulthandler, json, sys
faulthandler.dump_traceback_later(float(sys.argv[3]), exit=True)  # a hang shows where it is, then fails
from pathlib import Path
import numpy as np
import torch
from har.models.glimpse import GlimpseConfig
from har.models.stroi_net import STROINetConfig
from har.train import distributed, loop
from har.train.evaluate import score_test_split
from har.train.loop import OptimConfig, PhaseConfig
from har.train.recipes import glimpse, stroi
from har.train.run import open_inputs, train_model

torch.set_num_threads(1)
root, out = Path(sys.argv[1]), Path(sys.argv[2])
stores = {"skeleton": root / "skeleton.zarr", "stroi": root / "stroi.zarr"}
sgd = OptimConfig("sgd", lr=0.05, momentum=0.9, weight_decay=1e-4)
glimpse_config = glimpse.GlimpseTrain(
    seed=0, val_fraction=0.25, device="cpu", eval_batch_size=5,
    model=GlimpseConfig(hidden=8, layers=1, joint_attention_hidden=8, dropout=0.0),
    fit=PhaseConfig(epochs=3, batch_size=4, optim=OptimConfig(lr=0.01)))
stroi_config = stroi.StroiTrain(
    seed=0, val_fraction=0.25, device="cpu", eval_batch_size=4,
    model=STROINetConfig(gcn_widths=(8, 8), gcn_depths=(1, 1), gcn_temporal_kernel=3, resnet_width=4,
                         resnet_depths=(1, 1), input_size=16),
    gcn=PhaseConfig(epochs=2, batch_size=6, optim=sgd), resnet=PhaseConfig(epochs=2, batch_size=6, optim=sgd),
    finetune=PhaseConfig(epochs=1, batch_size=6, optim=sgd))
for spec, config in ((glimpse.SPEC, glimpse_config), (stroi.SPEC, stroi_config)):
    train_model(spec, config, stores, out / spec.name, out / "checkpoints" / spec.name, progress=False)
    outputs, _, _ = score_test_split(spec, config, open_inputs(spec, stores), out / spec.name, torch.device("cpu"))
    if distributed.is_main():
        np.savez(out / f"{spec.name}_test.npz", **outputs)

# Resume: the run is interrupted (on every rank) after its 2nd training epoch, then run again.
real_run_epoch, calls = loop.run_epoch, []
def interrupted(ctx, phase, optimizer=None):
    if optimizer is not None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
    return real_run_epoch(ctx, phase, optimizer)
loop.run_epoch = interrupted
try:
    train_model(glimpse.SPEC, glimpse_config, stores, out / "resumed", out / "checkpoints" / "resumed", False)
except KeyboardInterrupt:
    pass
loop.run_epoch = real_run_epoch
last = out / "checkpoints" / "resumed" / "train.last.pt"
resumed_from = torch.load(last, weights_only=True)["epoch"] if last.exists() else None
train_model(glimpse.SPEC, glimpse_config, stores, out / "resumed", out / "checkpoints" / "resumed", False)
if distributed.is_main():
    (out / "run.json").write_text(json.dumps({"world": distributed.world_size(), "resumed_from": resumed_from}))
"""


def make_stores(root: Path) -> Path:
    """skeleton.zarr and stroi.zarr of 29 samples (subjects 1-5, 2 separable classes; subject 3 tests, 5 is
    carved for validation with seed 0), 17 fit samples: one sample of subject 1 is left out."""
    rng = np.random.default_rng(0)
    names = [f"S001C001P{p:03d}R00{r}A{a:03d}" for p in (1, 2, 3, 4, 5) for r in (1, 2, 3) for a in (1, 2)][1:]
    labels = np.array([int(n[-3:]) - 1 for n in names])
    subjects = [int(n[9:12]) for n in names]
    x = (rng.normal(0, 1, (len(names), 2, 8, 25, 3)) + labels[:, None, None, None, None]).astype(np.float32)
    mosaic = rng.integers(0, 128, (len(names), 40, 40, 3)) + 100 * labels[:, None, None, None]
    meta = {"sample": names, "label": labels.tolist(), "setup": [1] * len(names), "camera": [1] * len(names),
            "subject": subjects, "replication": [int(n[13:16]) for n in names]}
    splits = {"xsub": {"train": [i for i, s in enumerate(subjects) if s != 3],
                       "test": [i for i, s in enumerate(subjects) if s == 3]}}
    for name, arrays in (("skeleton", {"x": x}), ("stroi", {"mosaic": mosaic.astype(np.uint8)})):
        with atomic_store(root / f"{name}.zarr") as group:
            for key, value in arrays.items():
                array = create_sample_array(group, key, len(names), value.shape[1:], value.dtype, per_shard=8)
                array[...] = value
            if name == "skeleton":
                write_array(group, "length", np.full(len(names), 8, np.int32))
            write_meta(group, meta)
            write_splits(group, splits)
            stamp(group, artifact=name)
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_script(tmp: Path, stores: Path, nproc: int) -> Path:
    out = tmp / f"nproc{nproc}"
    script = tmp / "ddp_script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--nnodes=1",
                "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}"] if nproc > 1 else [sys.executable]
    done = subprocess.run([*launcher, str(script), str(stores), str(out), "240"], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    stores = make_stores(tmp / "stores")
    return run_script(tmp, stores, 1), run_script(tmp, stores, 2)


def weights(model_dir: Path) -> dict:
    return checkpoint.load(model_dir / "model.pt", torch.device("cpu"))["model"]


def history(model_dir: Path) -> list[dict]:
    return json.loads((model_dir / "history.json").read_text())


@pytest.mark.parametrize("model", ["glimpse", "stroi"])
def test_two_processes_train_like_one_with_the_same_global_batch(runs, model):
    single, double = runs
    assert json.loads((double / "run.json").read_text())["world"] == 2
    one, two = weights(single / model), weights(double / model)
    assert list(one) == list(two) and not any(key.startswith("module.") for key in two)
    for key in set(one) - NO_EFFECT.get(model, set()):
        assert torch.allclose(one[key].float(), two[key].float(), rtol=RTOL, atol=ATOL), key
    first, second = history(single / model), history(double / model)
    assert [(r["phase"], r["epoch"]) for r in first] == [(r["phase"], r["epoch"]) for r in second]
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        np.testing.assert_allclose([b[k] for k in sorted(b) if k != "phase"],
                                   [a[k] for k in sorted(a) if k != "phase"], rtol=RTOL, atol=ATOL)
    if model == "stroi":  # three phases, BatchNorm statistics (running buffers) trained over the global batch
        assert [r["phase"] for r in second] == ["gcn", "gcn", "resnet", "resnet", "finetune"]
        assert any(key.endswith("running_var") for key in two)


@pytest.mark.parametrize("model", ["glimpse", "stroi"])
def test_two_process_evaluation_counts_every_test_sample_once(runs, model):
    single, double = runs
    one, two = np.load(single / f"{model}_test.npz"), np.load(double / f"{model}_test.npz")
    assert sorted(one.files) == sorted(two.files)
    np.testing.assert_array_equal(one["index"], two["index"])  # same samples, same order, none twice
    assert len(np.unique(two["index"])) == len(two["index"]) == 6
    np.testing.assert_array_equal(one["target"], two["target"])
    np.testing.assert_array_equal(one["logits"].argmax(1), two["logits"].argmax(1))
    np.testing.assert_allclose(two["logits"], one["logits"], rtol=RTOL, atol=ATOL)


def test_an_interrupted_two_process_run_resumes_to_the_same_weights(runs):
    single, double = runs
    for out in runs:
        assert json.loads((out / "run.json").read_text())["resumed_from"] == 1  # stopped after 2 epochs (0, 1)
    resumed, straight = weights(double / "resumed"), weights(double / "glimpse")
    assert all(torch.equal(resumed[key], straight[key]) for key in straight)
    assert history(double / "resumed") == history(double / "glimpse")


def test_sharded_batches_are_the_single_process_batches():
    order = torch.randperm(17, generator=torch.Generator().manual_seed(3)).tolist()
    shares = [list(distributed.ShardedBatchSampler(order, 4, rank, 2)) for rank in (0, 1)]
    whole = [order[i:i + 4] for i in range(0, 17, 4)]
    for step, batch in enumerate(whole):
        assert sorted(shares[0][step] + shares[1][step]) == sorted(batch) or len(batch) == 1
    assert shares[1][-1] == whole[-1]  # rank 1 has no share of the 1-sample batch: it repeats it...
    weights = [distributed.ShardedBatchSampler(order, 4, rank, 2).step_weights() for rank in (0, 1)]
    assert weights[0][-1] == (2.0, 1) and weights[1][-1] == (0.0, 0)  # ...with weight 0
    assert all(w == (1.0, 2) for w in weights[0][:-1] + weights[1][:-1])
    with pytest.raises(ValueError, match="does not split over 2"):
        distributed.ShardedBatchSampler(order, 5, 0, 2)


def test_torchrun_command_launches_only_when_needed(monkeypatch):
    for key in distributed.TORCHRUN_ENV:
        monkeypatch.delenv(key, raising=False)
    command = distributed.torchrun_command(3, ["har-prep", "train", "glimpse"])
    assert command[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3", "--no-python",
                           "har-prep", "train", "glimpse"]
    assert distributed.torchrun_command(1, ["x"]) is None
    monkeypatch.setenv("LOCAL_RANK", "0")  # already one of torchrun's processes
    assert distributed.torchrun_command(3, ["x"]) is None
    with pytest.raises(ValueError, match="train_glimpse.nproc must be an integer of at least 1"):
        distributed.torchrun_command(0, ["x"], key="train_glimpse.nproc")
