"""Atomic, resumable checkpoints of a training phase."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from har.io.store import atomic_file


def save(path: Path, state: dict) -> None:
    """torch.save through a temporary file, so a crash never leaves a half-written checkpoint."""
    with atomic_file(path, "wb") as handle:
        torch.save(state, handle)


def load(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=False)


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
