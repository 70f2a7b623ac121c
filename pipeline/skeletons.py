"""Stage `skeletons@<variant>`: data/interim/skeletons.zarr -> data/features/skeleton/<variant>.zarr (N, M, T, V, 3).

Reads params `skeletons.variants.<variant>` and section `denoise` (shared with the heatmaps and video stages).
"""
from __future__ import annotations

from pathlib import Path

from har.builders.skeletons import SkeletonOptions, build_skeletons
from har.config import from_mapping
from har.parallel import ComputeSettings
from har.transforms.denoise import DenoiseConfig
from pipeline import paths
from pipeline.params import as_record, load_params, section, variant_settings


def run(params_file: Path, variant: str = paths.DEFAULT_VARIANT, progress: bool = True) -> dict:
    params = load_params(params_file)
    options = from_mapping(SkeletonOptions, variant_settings(params, "skeletons", variant, params_file),
                           f"{params_file}:skeletons.variants.{variant}")
    denoise = section(DenoiseConfig, "denoise", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    record = {"variant": variant, "skeletons": as_record(options), "denoise": as_record(denoise)}
    return build_skeletons(paths.INTERIM_SKELETONS, paths.feature_store("skeleton", variant),
                           paths.quarantine("skeletons", variant), compute, options, denoise=denoise,
                           params=record, progress=progress, work=paths.work("skeletons", variant))
