"""Model name -> a function returning everything needed to train and evaluate it (a plain dict).

Each entry imports only its own recipe (and so only its own model and backbones): a stage that trains one model
loads that model's code alone, and its DVC deps list exactly those files.
"""
from __future__ import annotations

from collections.abc import Callable

from har.errors import UnknownNameError
from har.train.spec import ModelSpec


def _glimpse() -> ModelSpec:
    from har.train.recipes import glimpse
    return glimpse.SPEC


def _epam() -> ModelSpec:
    from har.train.recipes import epam
    return epam.SPEC


def _amfi() -> ModelSpec:
    from har.train.recipes import amfi
    return amfi.SPEC


def _das() -> ModelSpec:
    from har.train.recipes import das
    return das.SPEC


def _stroi() -> ModelSpec:
    from har.train.recipes import stroi
    return stroi.SPEC


MODELS: dict[str, Callable[[], ModelSpec]] = {
    "glimpse": _glimpse,
    "epam": _epam,
    "amfi": _amfi,
    "das": _das,
    "stroi": _stroi,
}


def model_spec(name: str) -> ModelSpec:
    """The spec of model `name`; an UnknownNameError (a KeyError) naming the known models for any other name."""
    if name not in MODELS:
        raise UnknownNameError(f"unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name]()
