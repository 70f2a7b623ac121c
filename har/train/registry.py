"""Model name -> everything needed to train and evaluate it (a plain dict)."""
from __future__ import annotations

from har.train.recipes import amfi, das, epam, glimpse, stroi
from har.train.spec import ModelSpec

MODELS: dict[str, ModelSpec] = {
    "glimpse": glimpse.SPEC,
    "epam": epam.SPEC,
    "amfi": amfi.SPEC,
    "das": das.SPEC,
    "stroi": stroi.SPEC,
}
