"""A tiny synthetic dataset ingested once per test session (shared by builder and training tests)."""
from __future__ import annotations

import pytest

from har.builders.ingest import ingest_raw
from har.parallel import ComputeSettings
from har.synth.config import SynthConfig
from har.synth.generate import generate_dataset

SYNC = ComputeSettings(scheduler="synchronous", block_size=8)


@pytest.fixture(scope="session")
def tiny_raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    generate_dataset(root / "raw", SynthConfig.tiny(), 3, SYNC, progress=False)
    ingest_raw(root / "raw", root / "skeletons.zarr", root / "ingest_quarantine.csv", SYNC, progress=False)
    return root
