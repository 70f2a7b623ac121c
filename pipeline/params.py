"""params.yaml: one section per stage, each read into a frozen dataclass that rejects unknown keys."""
from __future__ import annotations

import re
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
# Store variants. The feature stages' sections hold named variants (`<stage>.variants.<name>`), dvc.yaml builds one
# stage per variant (foreach: `skeletons@<name>`...), and each model's `train_<model>.stores` names the variant of
# every feature store it reads. A video variant lists the stores it writes (`stores`), so a variant made for one
# model builds only what that model reads; the other stages' variants write their one store.
VARIANT_STAGES = {"skeletons": ("skeleton",), "heatmaps": ("heatmaps",), "video": ("rgb_clips", "part_crops", "stroi")}
STORE_STAGE = {store: stage for stage, stores in VARIANT_STAGES.items() for store in stores}
# The feature stores each model reads (tests check it equals each registry spec's `inputs`).
MODEL_STORES = {"glimpse": ("skeleton",), "epam": ("rgb_clips", "heatmaps"), "amfi": ("skeleton", "rgb_clips"),
                "das": ("skeleton", "part_crops"), "stroi": ("skeleton", "stroi")}
POSE_VIEW_STAGES = ("heatmaps", "video")  # their variants name a pose view: `poses: <poses.variants name>`
VARIANT_NAME = re.compile(r"[A-Za-z0-9_]+")  # it names a DVC stage (`video@<name>`) and a folder


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
    check_variants(data, path)
    return data


def variant_stores(data: dict, stage: str, name: str, where: str) -> tuple[str, ...]:
    """The stores variant `name` of a feature stage writes (a video variant lists them in `stores`)."""
    if stage != "video":
        return VARIANT_STAGES[stage]
    stores = data[stage]["variants"][name].get("stores") if isinstance(data[stage]["variants"][name], dict) else None
    if (not isinstance(stores, list) or not stores or len(set(stores)) != len(stores)
            or not set(stores) <= set(VARIANT_STAGES[stage])):
        raise ConfigError(f"{where}.stores: expected a non-empty list of distinct stores among "
                          f"{', '.join(VARIANT_STAGES[stage])}, got {stores!r}")
    return tuple(stores)


def produced_stores(data: dict, path: str | Path) -> dict[tuple[str, str], str]:
    """(store, variant) -> the params key of the variant that builds it, for the feature sections in `data`."""
    produced = {}
    for stage in ("poses", *VARIANT_STAGES):
        if stage not in data:
            continue
        body = data[stage]
        if not isinstance(body, dict) or set(body) != {"variants"} or not isinstance(body["variants"], dict) \
                or not body["variants"]:
            raise ConfigError(f"{path}:{stage}: expected `variants:`, a mapping of variant names to settings "
                              f"(e.g. variants: {{default: {{...}}}})")
        for name, settings in body["variants"].items():
            where = f"{path}:{stage}.variants.{name}"
            if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name):
                raise ConfigError(f"{where}: a variant name must be letters, digits and _ (it names a stage and "
                                  f"a folder)")
            if not isinstance(settings, dict):
                raise ConfigError(f"{where}: expected a mapping of settings, got {settings!r}")
            for store in variant_stores(data, stage, name, where) if stage != "poses" else ():
                produced[(store, name)] = f"{stage}.variants.{name}"
    return produced


def check_pose_views(data: dict, path: str | Path) -> None:
    """Every heatmaps/video variant names a pose view of `poses.variants`, and (with both sections present) every
    pose view is named by one."""
    if "poses" not in data:
        return
    views, named = data["poses"]["variants"], set()
    for stage in POSE_VIEW_STAGES:
        for name, settings in (data.get(stage) or {}).get("variants", {}).items():
            view = settings.get("poses")
            if view not in views:
                raise ConfigError(f"{path}:{stage}.variants.{name}.poses: expected the name of a pose view under "
                                  f"poses.variants ({', '.join(views)}), got {view!r}")
            named.add(view)
    unnamed = [view for view in views if view not in named]
    if all(stage in data for stage in POSE_VIEW_STAGES) and unnamed:
        raise ConfigError(f"{path}:poses.variants.{unnamed[0]}: no heatmaps or video variant names this pose view "
                          f"(their `poses` key): remove it, or name it")


def check_variants(data: dict, path: str | Path) -> None:
    """Every `train_<model>.stores` names, for each store the model reads, a variant that builds it; and (when
    every model's section is present) every variant builds only stores some model reads, so `dvc repro` builds
    nothing no model reads. Sections absent from `data` are not checked. Raises ConfigError naming the key."""
    produced, read = produced_stores(data, path), set()
    check_pose_views(data, path)
    for model, stores in MODEL_STORES.items():
        body = data.get(f"train_{model}")
        if not isinstance(body, dict):
            continue
        where, chosen = f"{path}:train_{model}.stores", body.get("stores")
        if not isinstance(chosen, dict) or set(chosen) != set(stores):
            raise ConfigError(f"{where}: expected the variant of each store the model reads ({', '.join(stores)}),"
                              f" e.g. {{{', '.join(f'{s}: default' for s in stores)}}}; got {chosen!r}")
        for store, name in chosen.items():
            stage = STORE_STAGE[store]
            if stage in data and (store, name) not in produced:
                names = [v for s, v in produced if s == store]
                raise ConfigError(f"{where}.{store}: no variant {name!r} of {stage} builds {store} (variants that "
                                  f"do: {', '.join(names) or 'none'}; add it under {stage}.variants"
                                  + (f" or list {store} in its stores)" if stage == "video" else ")"))
            read.add((store, name))
    if all(f"train_{model}" in data for model in MODEL_NAMES):
        for (store, name), key in produced.items():
            if (store, name) not in read:
                hint = f"drop {store} from its stores" if STORE_STAGE[store] == "video" else "remove it"
                raise ConfigError(f"{path}:{key}: variant {name!r} builds {store}, which no model reads (no "
                                  f"train_<model>.stores.{store} names it): {hint}, or point a model at it")


def variant_settings(params: dict, stage: str, name: str, path: str | Path) -> dict:
    """The settings of variant `name` of a feature stage's section (a clear error naming the known ones)."""
    variants = (params.get(stage) or {}).get("variants") or {}
    if name not in variants:
        raise ConfigError(f"{path}:{stage}.variants: no variant {name!r} (known: {', '.join(variants) or 'none'})")
    return dict(variants[name])


def section(cls: type[T], name: str, path: str | Path = DEFAULT_PARAMS,
            params: dict[str, Any] | None = None) -> T:
    """The `name` section of params.yaml as a `cls` instance (defaults where the section is absent)."""
    params = load_params(path) if params is None else params
    return from_mapping(cls, params.get(name), f"{path}:{name}")


def as_record(config) -> dict:
    """Plain data of a config, stored in artifact attrs so every store says how it was made."""
    return to_mapping(config)
