import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from har.models.layers import set_frozen
from har.train.loop import (OptimConfig, Phase, PhaseConfig, TrainContext, cross_entropy_on, fit, lr_factor)


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


def context(tmp_path, seed=0):
    torch.manual_seed(seed)
    model = Net()
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


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    full = context(tmp_path / "a")
    fit(full, phase(full.model, epochs=6))
    part = context(tmp_path / "b")
    fit(part, phase(part.model, epochs=3))  # "interrupted" after 3 epochs: pretend it never finished
    (tmp_path / "b" / "main.done.json").unlink()
    state = torch.load(tmp_path / "b" / "main.best.pt", weights_only=False)
    assert state["epoch"] <= 2
    resumed = context(tmp_path / "b")
    # rebuild the last checkpoint of epoch 2 from the history the short run kept
    from har.train import checkpoint
    ckpt = {"fingerprint": "abc", "phase": "main", "epoch": 2, "best": {"epoch": state["epoch"], "acc": 0.0},
            "history": part.history, "model": part.model.state_dict(), "seconds": 0.0}
    optimizer = torch.optim.Adam(part.model.parameters(), lr=0.05)
    ckpt["optimizer"] = optimizer.state_dict()
    checkpoint.save(tmp_path / "b" / "main.last.pt", ckpt)
    summary = fit(resumed, phase(resumed.model, epochs=6))
    assert summary["epochs_run"] == 6
    assert [h["epoch"] for h in summary["history"]] == list(range(6))


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
