"""Stage `video`: skeletons.zarr + raw videos -> rgb_clips.zarr, part_crops.zarr, stroi.zarr (one decode each).

Reads params sections `video`, `poses` (shared with the heatmaps stage) and `denoise` (shared with the skeletons and
heatmaps stages). Where the videos are comes from skeletons.zarr's record of its source (the folder the ingest stage
read, whether from params or `har-prep ingest --source`), never from params.
"""
from __future__ import annotations

from pathlib import Path

from har.builders.ingest import recorded_source
from har.builders.poses import PoseOptions
from har.builders.video import VideoOptions, VideoStores, build_video
from har.io.store import open_store
from har.parallel import ComputeSettings
from har.transforms.denoise import DenoiseConfig
from pipeline import paths
from pipeline.params import as_record, load_params, section

QUARANTINE = paths.REPORTS / "video_quarantine.csv"


def run(params_file: Path, progress: bool = True) -> dict:
    params = load_params(params_file)
    options = section(VideoOptions, "video", params_file, params)
    poses = section(PoseOptions, "poses", params_file, params)
    denoise = section(DenoiseConfig, "denoise", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    source = recorded_source(open_store(paths.INTERIM_SKELETONS, "skeletons"), paths.INTERIM_SKELETONS)
    if not source.is_dir():
        raise FileNotFoundError(f"{paths.INTERIM_SKELETONS} was ingested from {source}: the video stage needs a "
                                f"raw NTU folder with nturgb+d_rgb/ videos (a PYSKL pickle has no video)")
    stores = VideoStores(clips=paths.RGB_CLIPS, crops=paths.PART_CROPS, stroi=paths.STROI)
    record = {"video": as_record(options), "poses": as_record(poses), "denoise": as_record(denoise)}
    return build_video(paths.INTERIM_SKELETONS, source, stores, QUARANTINE, compute, options, poses=poses,
                       denoise=denoise, params=record, progress=progress)
