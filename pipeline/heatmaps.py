"""Stage `heatmaps@<variant>`: data/interim/skeletons.zarr -> data/features/heatmaps/<variant>.zarr (N, K, T, H, W)
uint8.

Reads params `heatmaps.variants.<variant>`, the pose view it names (`poses.variants.<its poses>`, which EPAM's
RGB clips must share) and section `denoise` (shared with the skeletons and video stages).
"""
from __future__ import annotations

from pathlib import Path

from har.builders.heatmaps import HeatmapOptions, build_heatmaps
from har.builders.poses import PoseOptions
from har.config import from_mapping
from har.parallel import ComputeSettings
from har.transforms.denoise import DenoiseConfig
from pipeline import paths
from pipeline.params import as_record, load_params, section, variant_settings


def variant_options(params: dict, variant: str, params_file: Path) -> tuple[HeatmapOptions, str, PoseOptions]:
    """(heatmap options, pose view name, pose view) of `heatmaps.variants.<variant>`."""
    settings = variant_settings(params, "heatmaps", variant, params_file)
    view = settings.pop("poses", None)
    poses = from_mapping(PoseOptions, variant_settings(params, "poses", view, params_file),
                         f"{params_file}:poses.variants.{view}")
    return from_mapping(HeatmapOptions, settings, f"{params_file}:heatmaps.variants.{variant}"), view, poses


def run(params_file: Path, variant: str = paths.DEFAULT_VARIANT, progress: bool = True) -> dict:
    params = load_params(params_file)
    options, view, poses = variant_options(params, variant, params_file)
    denoise = section(DenoiseConfig, "denoise", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    record = {"variant": variant, "heatmaps": as_record(options), "poses": {"variant": view, **as_record(poses)},
              "denoise": as_record(denoise)}
    return build_heatmaps(paths.INTERIM_SKELETONS, paths.feature_store("heatmaps", variant),
                          paths.quarantine("heatmaps", variant), compute, options, poses=poses, denoise=denoise,
                          params=record, progress=progress, work=paths.work("heatmaps", variant))
