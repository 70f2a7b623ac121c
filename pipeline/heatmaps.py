"""Stage `heatmaps`: data/interim/skeletons.zarr -> data/features/heatmaps.zarr (N, K, T, H, W) uint8.

Reads params sections `heatmaps`, `poses` (shared with the video stage) and `denoise` (shared with the skeletons
and video stages).
"""
from __future__ import annotations

from pathlib import Path

from har.builders.heatmaps import HeatmapOptions, build_heatmaps
from har.builders.poses import PoseOptions
from har.parallel import ComputeSettings
from har.transforms.denoise import DenoiseConfig
from pipeline import paths
from pipeline.params import as_record, load_params, section


def run(params_file: Path, progress: bool = True) -> dict:
    params = load_params(params_file)
    options = section(HeatmapOptions, "heatmaps", params_file, params)
    poses = section(PoseOptions, "poses", params_file, params)
    denoise = section(DenoiseConfig, "denoise", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    record = {"heatmaps": as_record(options), "poses": as_record(poses), "denoise": as_record(denoise)}
    return build_heatmaps(paths.INTERIM_SKELETONS, paths.HEATMAPS, paths.REPORTS / "heatmaps_quarantine.csv",
                          compute, options, poses=poses, denoise=denoise, params=record, progress=progress)
