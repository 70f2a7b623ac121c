"""Trained models and checkpoints load with torch.load(weights_only=True): a crafted pickle is refused, not run."""
from __future__ import annotations

import ast
import pickle
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import har
from har.train import checkpoint
from har.train.loop import OptimConfig, Phase, PhaseConfig, TrainContext, cross_entropy_on, fit
from har.train.recipes.glimpse import SPEC, GlimpseTrain
from har.train.registry import MODELS
from har.train.run import load_trained

ROOT = Path(har.__file__).resolve().parents[1]


class Payload:
    """Unpickling this creates `marker`: a stand-in for arbitrary code in a model pulled from a remote."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_crafted_model_file_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    model_dir = tmp_path / "models" / "glimpse"
    model_dir.mkdir(parents=True)
    torch.save({"model": Payload(marker), "spec": "glimpse", "model_config": {}, "classes": [0, 1]},
               model_dir / "model.pt")
    with pytest.raises(pickle.UnpicklingError, match=re.escape(f"{model_dir / 'model.pt'}: refused to load")):
        load_trained(SPEC, GlimpseTrain(), model_dir, torch.device("cpu"))
    assert not marker.exists()


@pytest.mark.parametrize("crafted", ["last", "best"])
def test_crafted_phase_checkpoint_is_refused_and_not_run(tmp_path, crafted):
    marker = tmp_path / "pwned"
    model = torch.nn.Linear(2, 2)
    if crafted == "best":  # a finished phase: its best weights are loaded
        checkpoint.write_done(tmp_path / "main.done.json", {"fingerprint": "abc", "best_epoch": 0, "history": [],
                                                            "seconds": 0.0})
    torch.save({"fingerprint": "abc", "epoch": 0, "model": Payload(marker)}, tmp_path / f"main.{crafted}.pt")
    loader = DataLoader(list(range(4)), batch_size=32)  # never reached: loading fails first
    ctx = TrainContext(model=model, train_loader=loader, val_loader=loader, device=torch.device("cpu"),
                       checkpoint_dir=tmp_path, fingerprint="abc", seed=0, progress=False)
    phase = Phase("main", PhaseConfig(epochs=1, optim=OptimConfig()), list(model.parameters()),
                  cross_entropy_on())
    with pytest.raises(pickle.UnpicklingError, match=re.escape(f"{tmp_path / f'main.{crafted}.pt'}: refused")):
        fit(ctx, phase)
    assert not marker.exists()


def test_what_training_saves_loads_with_weights_only(tmp_path):
    """model.pt of every model (its config made plain) and a phase state with an optimiser round-trip."""
    for entry in MODELS.values():
        spec = entry if hasattr(entry, "config_type") else entry()  # the registry may import recipes lazily
        config = checkpoint.plain(asdict(spec.config_type().model))
        checkpoint.save(tmp_path / "model.pt", {"model": {"w": torch.ones(2)}, "spec": spec.name,
                                                "model_config": config, "classes": [0, 1]})
        assert checkpoint.load(tmp_path / "model.pt", torch.device("cpu"))["model_config"] == config
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    checkpoint.save(tmp_path / "main.last.pt", {"fingerprint": "abc", "epoch": 0, "best": {"epoch": 0, "acc": 0.5},
                                                "history": [{"phase": "main", "lr": 0.1}], "seconds": 1.0,
                                                "model": model.state_dict(), "optimizer": optimizer.state_dict()})
    torch.optim.SGD(model.parameters(), lr=0.1).load_state_dict(
        checkpoint.load(tmp_path / "main.last.pt", torch.device("cpu"))["optimizer"])
    assert checkpoint.plain({"a": np.float32(0.5), "b": np.arange(2), "c": Path("x"), "d": (1, None)}) == {
        "a": 0.5, "b": [0, 1], "c": "x", "d": (1, None)}


def test_every_torch_load_in_the_project_is_weights_only():
    calls = []
    for path in sorted([*ROOT.joinpath("har").rglob("*.py"), *ROOT.joinpath("pipeline").rglob("*.py"),
                        *ROOT.joinpath("tests").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                calls.append((path.relative_to(ROOT).as_posix(), node.lineno, safe))
    assert calls and all(safe for *_, safe in calls), [c for c in calls if not c[2]]
