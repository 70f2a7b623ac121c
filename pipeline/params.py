"""params.yaml: one section per stage, each read into a frozen dataclass that rejects unknown keys."""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml

from har.config import ConfigError, from_mapping, to_mapping
from har.errors import MissingArtifactError

T = TypeVar("T")
DEFAULT_PARAMS = Path("params.yaml")
# Top-level sections params.yaml may hold (train_<model>/evaluate sections are checked by their stages).
# `denoise` (which actors every artifact shows) is read by the skeletons, heatmaps and video stages; `poses` (pose
# frames and person box) by the heatmaps and video stages: each shared setting has one home.
STAGE_SECTIONS = {"compute", "synth", "ingest", "denoise", "skeletons", "poses", "heatmaps", "video", "evaluate",
                  "report"}
# Models with a train_<model> section. A plain tuple, not har.train.registry, so that loading params does not import
# torch and the five models into the data stages (tests check it equals the registry's keys).
MODEL_NAMES = ("glimpse", "epam", "amfi", "das", "stroi")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise MissingArtifactError(f"{path}: no params file (run from the project root or pass --params)")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    known = STAGE_SECTIONS | {f"train_{name}" for name in MODEL_NAMES}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown section {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return data


def section(cls: type[T], name: str, path: str | Path = DEFAULT_PARAMS,
            params: dict[str, Any] | None = None) -> T:
    """The `name` section of params.yaml as a `cls` instance (defaults where the section is absent)."""
    params = load_params(path) if params is None else params
    return from_mapping(cls, params.get(name), f"{path}:{name}")


def as_record(config) -> dict:
    """Plain data of a config, stored in artifact attrs so every store says how it was made."""
    return to_mapping(config)
