"""Stage `synth` (and `har-prep synth`): synthetic data in the exact NTU raw formats."""
from __future__ import annotations

from dataclasses import replace
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
        progress: bool = True, size: str | None = None, samples: int | None = None,
        skeleton_only: bool = False, video_size: tuple[int, int] | None = None, archives: bool = False) -> dict:
    """The params dataset, or with `size` ('ntu60' | 'ntu120') the real NTU sample names (`samples` of them evenly
    spread; all by default), skeleton-only or with videos of `video_size` (width, height); `archives`: its skeletons
    in NTU's zip archives."""
    params = load_params(params_file) if Path(params_file).exists() else {}
    config, default_seed = synth_config(params_file, params)
    if tiny:
        config = SynthConfig.tiny()
    if video_size is not None:
        config = replace(config, width=video_size[0], height=video_size[1])
    compute = section(ComputeSettings, "compute", params_file, params)
    seed = default_seed if seed is None else seed
    if size is None:
        if samples is not None or skeleton_only or archives:
            raise ValueError("synth: samples, skeleton_only and archives need an NTU size (ntu60 or ntu120)")
        return generate_dataset(out_dir, config, seed, compute, progress=progress)
    if skeleton_only == (video_size is not None):
        raise ValueError(f"synth --size {size}: give skeleton_only, or a video_size for small videos")
    from har.synth.ntu_size import generate_ntu_size  # not loaded by the default stage
    manifest = generate_ntu_size(out_dir, size, config, seed, compute, count=samples, video=not skeleton_only,
                                 archives=archives, progress=progress)
    return {key: manifest[key] for key in ("size", "num_samples", "of", "takes")} | {
        "skeleton_bytes": manifest["stats"]["skeleton_bytes"], "video_bytes": manifest["stats"]["video_bytes"]}
