"""Stage `skeletons`: data/interim/skeletons.zarr -> data/features/skeleton.zarr (N, M, T, V, 3).

Reads params sections `skeletons` and `denoise` (shared with the heatmaps and video stages).
"""
from __future__ import annotations

from pathlib import Path

from har.builders.skeletons import SkeletonOptions, build_skeletons
from har.parallel import ComputeSettings
from har.transforms.denoise import DenoiseConfig
from pipeline import paths
from pipeline.params import as_record, load_params, section


def run(params_file: Path, progress: bool = True) -> dict:
    params = load_params(params_file)
    options = section(SkeletonOptions, "skeletons", params_file, params)
    denoise = section(DenoiseConfig, "denoise", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    record = {"skeletons": as_record(options), "denoise": as_record(denoise)}
    return build_skeletons(paths.INTERIM_SKELETONS, paths.SKELETON, paths.REPORTS / "skeletons_quarantine.csv",
                           compute, options, denoise=denoise, params=record, progress=progress)
