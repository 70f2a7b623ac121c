"""Atomic, resumable checkpoints of a training phase, loaded without running pickled code.

Every file here (and a train stage's model.pt) holds only tensors and plain values (dict, list, tuple, str, int,
float, bool, None), so it loads with torch.load(weights_only=True): a model pulled from a teammate's remote cannot
run code on this machine.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

from har.errors import HarError
from har.io.store import atomic_file


class UnsafeCheckpointError(HarError, pickle.UnpicklingError):
    """A checkpoint holds objects other than tensors and plain values (possibly code to run): it was not loaded."""


def plain(value):
    """`value` with numpy values, paths and other objects turned into plain values that weights_only loads."""
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return str(value)


def save(path: Path, state: dict) -> None:
    """torch.save through a temporary file, so a crash never leaves a half-written checkpoint."""
    with atomic_file(path, "wb") as handle:
        torch.save(state, handle)


def load(path: Path, device: torch.device) -> dict:
    """torch.load with weights_only=True: a file that would unpickle anything but tensors and plain values is
    refused (UnsafeCheckpointError naming it), never executed."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"{path}: refused to load, it holds objects other than tensors and plain values (a crafted or foreign "
            f"pickle could run code); delete it or rebuild it with this code. torch said: {error}") from error


def phase_paths(directory: Path, phase: str) -> dict[str, Path]:
    return {"last": directory / f"{phase}.last.pt", "best": directory / f"{phase}.best.pt",
            "done": directory / f"{phase}.done.json"}


def read_done(path: Path, fingerprint: str) -> dict | None:
    """The summary of a finished phase with this fingerprint, if there is one."""
    if not path.exists():
        return None
    done = json.loads(path.read_text())
    return done if done.get("fingerprint") == fingerprint else None


def write_done(path: Path, summary: dict) -> None:
    with atomic_file(path) as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)


def load_matching(path: Path, device: torch.device, fingerprint: str, epoch: int | None = None) -> dict | None:
    """The checkpoint at `path` if it exists and was written under `fingerprint` (and, when given, at `epoch`);
    None for a missing one or one of another run, which must then never be used."""
    if not path.exists():
        return None
    state = load(path, device)
    if state.get("fingerprint") != fingerprint or (epoch is not None and state.get("epoch") != epoch):
        return None
    return state


def discard(paths: dict[str, Path]) -> None:
    """Remove a phase's files (they belong to another run): stale work neither accumulates nor gets loaded."""
    for path in paths.values():
        path.unlink(missing_ok=True)
