"""Stage `heatmaps`: data/interim/skeletons.zarr -> data/features/heatmaps.zarr (N, K, T, H, W) uint8."""
from __future__ import annotations

from pathlib import Path

from har.builders.heatmaps import HeatmapOptions, build_heatmaps
from har.parallel import ComputeSettings
from pipeline import paths
from pipeline.params import as_record, load_params, section


def run(params_file: Path, progress: bool = True) -> dict:
    params = load_params(params_file)
    options = section(HeatmapOptions, "heatmaps", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    return build_heatmaps(paths.INTERIM_SKELETONS, paths.HEATMAPS, paths.REPORTS / "heatmaps_quarantine.csv",
                          compute, options, as_record(options), progress)
