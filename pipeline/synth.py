"""Stage `synth` (and `har-prep synth`): synthetic data in the exact NTU raw formats."""
from __future__ import annotations

from pathlib import Path

from har.config import from_mapping
from har.parallel import ComputeSettings
from har.synth.config import SynthConfig
from har.synth.generate import generate_dataset
from pipeline.params import load_params, section


def synth_config(params_file: Path, params: dict | None) -> tuple[SynthConfig, int]:
    """The synth section: `seed` plus every SynthConfig field."""
    raw = dict((params or {}).get("synth") or {})
    seed = raw.pop("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{params_file}:synth.seed: expected an integer, got {seed!r}")
    return from_mapping(SynthConfig, raw, f"{params_file}:synth"), seed


def run(out_dir: Path, params_file: Path, seed: int | None = None, tiny: bool = False,
        progress: bool = True) -> dict:
    params = load_params(params_file) if Path(params_file).exists() else {}
    config, default_seed = synth_config(params_file, params)
    if tiny:
        config = SynthConfig.tiny()
    compute = section(ComputeSettings, "compute", params_file, params)
    return generate_dataset(out_dir, config, default_seed if seed is None else seed, compute, progress=progress)
