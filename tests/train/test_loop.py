import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from har.models.layers import is_frozen, set_frozen, train_only
from har.train import checkpoint, loop
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, cross_entropy_on, fit, lr_factor


class Blobs(Dataset):
    """Two Gaussian blobs in 4-D: learnable in a few epochs."""

    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.target = rng.integers(0, 2, n)
        self.x = (rng.normal(0, 1, (n, 4)) + 2.5 * self.target[:, None]).astype(np.float32)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": torch.from_numpy(self.x[i]), "target": torch.tensor(int(self.target[i])),
                "index": torch.tensor(i)}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return {"logits": self.head(self.body(x))}


class DropNet(Net):
    """Net with dropout, so the random stream of every epoch matters too."""

    def __init__(self):
        super().__init__()
        self.body.append(nn.Dropout(0.3))


def context(tmp_path, seed=0, net=Net):
    torch.manual_seed(seed)
    model = net()
    generator = torch.Generator().manual_seed(seed)
    return TrainContext(model=model, device=torch.device("cpu"), seed=seed, progress=False,
                        train_loader=DataLoader(Blobs(64, 1), batch_size=16, shuffle=True, generator=generator),
                        val_loader=DataLoader(Blobs(32, 2), batch_size=16),
                        checkpoint_dir=tmp_path, fingerprint="abc")


def phase(model, epochs=6, patience=0):
    config = PhaseConfig(epochs=epochs, batch_size=16, optim=OptimConfig("adam", lr=0.05), patience=patience)
    return Phase("main", config, list(model.parameters()), cross_entropy_on())


def test_fit_learns_and_keeps_the_best_epoch(tmp_path):
    ctx = context(tmp_path)
    summary = fit(ctx, phase(ctx.model))
    assert summary["best_val_acc"] > 0.85
    assert len(ctx.history) == 6 and (tmp_path / "main.done.json").exists()
    assert not (tmp_path / "main.last.pt").exists()


class Interrupted(Exception):
    pass


def assert_same(a, b, where="state"):
    """Bit-for-bit equality of nested dicts/lists of tensors and plain values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{k}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def record_last_states(monkeypatch) -> list[dict]:
    """Every state fit writes to a .last.pt, read back from disk (the file is removed when the phase ends)."""
    states, real = [], checkpoint.save

    def save(path, state):
        real(path, state)
        if path.name.endswith(".last.pt"):
            states.append(checkpoint.load(path, torch.device("cpu")))
    monkeypatch.setattr(checkpoint, "save", save)
    return states


def watch_training(monkeypatch, interrupt_at: int = 0) -> list[int]:
    """Count fit's training passes; the `interrupt_at`-th one (1-based) raises, as a run killed there would stop."""
    calls, real = [], loop.run_epoch

    def run_epoch(ctx, phase, optimizer=None):
        if optimizer is not None:
            calls.append(1)
            if len(calls) == interrupt_at:
                raise Interrupted
        return real(ctx, phase, optimizer)
    monkeypatch.setattr(loop, "run_epoch", run_epoch)
    return calls


def test_interrupted_run_resumes_bit_for_bit_like_an_uninterrupted_one(tmp_path, monkeypatch):
    def lively(model):  # warm-up then cosine lr, Adam state, dropout: all must resume exactly
        config = PhaseConfig(epochs=5, batch_size=16, optim=OptimConfig(
            "adam", lr=0.05, schedule="cosine", warmup_epochs=1, weight_decay=1e-4))
        return Phase("main", config, list(model.parameters()), cross_entropy_on())

    states = record_last_states(monkeypatch)
    full = context(tmp_path / "full", net=DropNet)
    full_summary = fit(full, lively(full.model))
    full_last = states[-1]

    with monkeypatch.context() as patch:
        watch_training(patch, interrupt_at=3)  # epochs 0 and 1 finish, epoch 2 dies
        part = context(tmp_path / "part", net=DropNet)
        with pytest.raises(Interrupted):
            fit(part, lively(part.model))
    left = checkpoint.load(tmp_path / "part" / "main.last.pt", torch.device("cpu"))
    assert left["epoch"] == 1 and left["optimizer"]["state"]  # the optimiser state travels with the checkpoint
    assert not (tmp_path / "part" / "main.done.json").exists()

    resumed = context(tmp_path / "part", seed=0, net=DropNet)
    trained = watch_training(monkeypatch)
    summary = fit(resumed, lively(resumed.model))
    assert len(trained) == 3  # epochs 2, 3 and 4 only

    assert_same(resumed.model.state_dict(), full.model.state_dict(), "best weights")
    resumed_last = states[-1]
    assert resumed_last["epoch"] == full_last["epoch"] == 4
    for key in ("model", "optimizer", "scheduler", "best", "history", "fingerprint"):
        assert_same(resumed_last[key], full_last[key], key)
    strip = lambda d: {k: v for k, v in d.items() if k != "seconds"}  # noqa: E731 - wall-clock time differs
    assert_same(strip(summary), strip(full_summary), "summary")
    assert_same(resumed.history, full.history, "history")


def test_finished_phase_is_not_run_again_and_fingerprint_guards(tmp_path):
    ctx = context(tmp_path)
    fit(ctx, phase(ctx.model, epochs=2))
    again = context(tmp_path, seed=5)
    fit(again, phase(again.model, epochs=2))
    for a, b in zip(ctx.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    other = context(tmp_path, seed=5)
    other.fingerprint = "different"
    fit(other, phase(other.model, epochs=2))
    assert any(not torch.equal(a, b) for a, b in zip(ctx.model.state_dict().values(),
                                                       other.model.state_dict().values()))


def run_as(directory, fingerprint, seed=0, epochs=2):
    ctx = context(directory, seed=seed)
    ctx.fingerprint = fingerprint
    summary = fit(ctx, phase(ctx.model, epochs=epochs))
    return ctx, summary


def test_phase_files_of_another_run_are_never_loaded(tmp_path, monkeypatch):
    """A finished summary whose best weights were since overwritten by another run, or an interrupted run of
    another fingerprint, is trained again from scratch, to the weights of a run in an empty folder."""
    reference, _ = run_as(tmp_path / "reference", "A")
    folder = tmp_path / "shared"
    run_as(folder, "A")
    done_a = (folder / "main.done.json").read_bytes()
    other, _ = run_as(folder, "B", seed=5)  # another run retrains the phase: its best weights replace A's
    assert any(not torch.equal(a, b) for a, b in zip(other.model.state_dict().values(),
                                                       reference.model.state_dict().values()))
    (folder / "main.done.json").write_bytes(done_a)  # A's summary beside B's best weights

    trained = watch_training(monkeypatch)
    again, summary = run_as(folder, "A")
    assert len(trained) == 2 and summary["fingerprint"] == "A"
    assert_same(again.model.state_dict(), reference.model.state_dict(), "weights after a stale best.pt")
    assert checkpoint.load(folder / "main.best.pt", torch.device("cpu"))["fingerprint"] == "A"

    with monkeypatch.context() as patch:
        watch_training(patch, interrupt_at=2)
        with pytest.raises(Interrupted):
            run_as(tmp_path / "stale", "B", seed=5)  # leaves B's last.pt (epoch 0) and best.pt
    trained.clear()
    resumed, summary = run_as(tmp_path / "stale", "A")
    assert len(trained) == 2 and [h["epoch"] for h in summary["history"]] == [0, 1]
    assert_same(resumed.model.state_dict(), reference.model.state_dict(), "weights after a stale last.pt")
    assert sorted(p.name for p in (tmp_path / "stale").iterdir()) == ["main.best.pt", "main.done.json"]


def test_same_seed_same_weights(tmp_path):
    runs = []
    for name in ("a", "b"):
        ctx = context(tmp_path / name)
        fit(ctx, phase(ctx.model, epochs=3))
        runs.append(ctx.model.state_dict())
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[1][key])


def test_early_stopping(tmp_path):
    ctx = context(tmp_path)
    config = PhaseConfig(epochs=50, optim=OptimConfig("sgd", lr=0.0), patience=3)
    summary = fit(ctx, Phase("flat", config, list(ctx.model.parameters()), cross_entropy_on()))
    assert summary["epochs_run"] == 4  # best at epoch 0, then 3 epochs without improvement


def test_frozen_part_stays_in_eval_mode_during_training(tmp_path):
    ctx = context(tmp_path)
    set_frozen(ctx.model.body)
    running = ctx.model.body[1].running_mean.clone()
    fit(ctx, Phase("head", PhaseConfig(epochs=2, optim=OptimConfig("adam", lr=0.05)),
                   list(ctx.model.head.parameters()), cross_entropy_on()))
    assert torch.equal(ctx.model.body[1].running_mean, running)


@pytest.mark.parametrize("schedule, epoch, expected", [
    (OptimConfig(schedule="step", milestones=(2, 4)), 3, 0.1),
    (OptimConfig(schedule="step", milestones=(2, 4)), 4, 0.01),
    (OptimConfig(schedule="cosine"), 0, 1.0),
    (OptimConfig(schedule="cosine"), 5, 0.5),
    (OptimConfig(warmup_epochs=1), 0, 0.5),
])
def test_lr_factor(schedule, epoch, expected):
    assert lr_factor(schedule, epoch, 10) == pytest.approx(expected)


def test_phase_batch_size_rebatches_the_training_loader(tmp_path):
    ctx = context(tmp_path)
    config = PhaseConfig(epochs=1, batch_size=8, optim=OptimConfig("adam", lr=0.05))
    fit(ctx, Phase("main", config, list(ctx.model.parameters()), cross_entropy_on()))
    assert ctx.train_loader.batch_size == 8
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        fit(context(tmp_path / "b"), Phase("main", PhaseConfig(epochs=1, batch_size=0),
                                            list(ctx.model.parameters()), cross_entropy_on()))


def test_reusable_phase_is_reused_when_only_late_keys_change(tmp_path):
    """A stream phase done under one fusion setting is reused under another (same stream fingerprint), loading only
    the stream's weights; a phase that is not a stream phase would run again."""
    ctx = context(tmp_path)
    ctx.stream_fingerprint = "streams"
    stream = Phase("stream", PhaseConfig(epochs=2, batch_size=16, optim=OptimConfig("adam", lr=0.05)),
                   list(ctx.model.body.parameters()), cross_entropy_on(), stream_modules=("body",))
    fit(ctx, stream)
    trained = {k: v.clone() for k, v in ctx.model.body.state_dict().items()}

    other = context(tmp_path, seed=5)
    other.fingerprint, other.stream_fingerprint = "another fusion", "streams"
    # a late module of the same shape (another fusion scheme): its weights must stay as built, not be loaded
    other.model.head = nn.Linear(8, 2, bias=False)
    before = other.model.head.weight.clone()
    summary = fit(other, Phase("stream", stream.config, list(other.model.body.parameters()), cross_entropy_on(),
                               stream_modules=("body",)))
    assert summary["epochs_run"] == 2 and len(other.history) == 2  # the finished phase, not a new run
    for key, value in other.model.body.state_dict().items():
        assert torch.equal(value, trained[key])
    assert torch.equal(other.model.head.weight, before)

    again = context(tmp_path, seed=5)
    again.fingerprint = "another fusion"
    fresh = fit(again, Phase("stream", stream.config, list(again.model.parameters()), cross_entropy_on()))
    assert fresh["history"][0]["epoch"] == 0 and len(again.history) == 2 and fresh is not summary


def test_scheduler_sets_the_lr_of_every_epoch_and_travels_in_the_checkpoint(tmp_path):
    ctx = context(tmp_path)
    optim = OptimConfig("sgd", lr=0.2, schedule="step", milestones=(1, 2), gamma=0.5, warmup_epochs=0)
    fit(ctx, Phase("main", PhaseConfig(epochs=3, optim=optim), list(ctx.model.parameters()), cross_entropy_on()))
    assert [row["lr"] for row in ctx.history] == [0.2 * lr_factor(optim, e, 3) for e in range(3)] == [0.2, 0.1, 0.05]


def log_two_phases(ctx):
    fit(ctx, Phase("body", PhaseConfig(epochs=2, optim=OptimConfig("adam", lr=0.05)),
                   train_only(ctx.model, ["body"]), cross_entropy_on()))
    fit(ctx, Phase("head", PhaseConfig(epochs=3, optim=OptimConfig("adam", lr=0.05)),
                   train_only(ctx.model, ["head"]), cross_entropy_on()))
    ctx.live.end()


def live_files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dvclive_logs_one_step_per_epoch_and_a_resumed_run_logs_the_same(tmp_path, monkeypatch):
    from har.train.run import open_live
    full = context(tmp_path / "full")
    full.live = open_live(tmp_path / "live_full")
    log_two_phases(full)
    files = live_files(tmp_path / "live_full")
    assert set(files) >= {"metrics.json", "plots/metrics/body/train/loss.tsv", "plots/metrics/head/val/acc_logits.tsv"}
    assert files["plots/metrics/head/val/loss.tsv"].decode().splitlines()[0].split("\t") == ["step", "loss"]
    assert [line.split("\t")[0] for line in files["plots/metrics/head/lr.tsv"].decode().splitlines()] == \
        ["step", "2", "3", "4"]  # global steps: the head phase follows the body phase's two epochs
    summary = __import__("json").loads(files["metrics.json"])
    assert summary["step"] == 4 and summary["head"]["epoch"] == 2 and "timestamp" not in files["metrics.json"].decode()

    with monkeypatch.context() as patch:
        watch_training(patch, interrupt_at=4)  # body finishes, head dies in its second epoch
        part = context(tmp_path / "part")
        part.live = open_live(tmp_path / "live_part")
        with pytest.raises(Interrupted):
            log_two_phases(part)
    resumed = context(tmp_path / "part")
    resumed.live = open_live(tmp_path / "live_part")  # a fresh logger: the checkpoints' history is re-logged
    log_two_phases(resumed)
    assert live_files(tmp_path / "live_part") == files


def test_train_only_freezes_everything_else_and_names_are_checked(tmp_path):
    ctx = context(tmp_path)
    params = train_only(ctx.model, ["head"], )
    assert params == list(ctx.model.head.parameters()) and is_frozen(ctx.model.body)
    assert not is_frozen(ctx.model.head) and not is_frozen(nn.ReLU())
    train_only(ctx.model, ["body", "head"], ["body.1"])
    assert is_frozen(ctx.model.body[1]) and not is_frozen(ctx.model.body[0])
    with pytest.raises(KeyError, match="no sub-module"):
        train_only(ctx.model, ["bdy"])



def test_history_carries_the_mean_of_each_loss_term(tmp_path):
    """Each term a loss returns (here cross_entropy_on's "ce", and a constant) is averaged over the epoch's samples
    and recorded beside the loss as train_<term> / val_<term>, so dvclive logs every term's size."""
    ctx = context(tmp_path)
    base = cross_entropy_on()

    def with_terms(outputs, target):
        value, terms = base(outputs, target)
        return value + 0.5, {**terms, "constant": 0.5}

    fit(ctx, Phase("terms", PhaseConfig(epochs=2, batch_size=16, optim=OptimConfig("adam", lr=0.05)),
                   list(ctx.model.parameters()), with_terms))
    for record in ctx.history:
        for split in ("train", "val"):
            assert record[f"{split}_constant"] == pytest.approx(0.5)
            assert record[f"{split}_ce"] + 0.5 == pytest.approx(record[f"{split}_loss"], abs=1e-5)
    logged = []

    class Live:
        step = 0

        def log_metric(self, name, value):
            logged.append(name)

        def next_step(self):
            pass
    loop.log_epoch(Live(), 0, ctx.history[0])
    assert {"terms/train/ce", "terms/val/ce", "terms/train/constant"} <= set(logged)
