"""Stage `video`: skeletons.zarr + raw videos -> rgb_clips.zarr, part_crops.zarr, stroi.zarr (one decode each).

Reads params sections `video`, `poses` (shared with the heatmaps stage), `denoise` (shared with the skeletons and
heatmaps stages) and `ingest.source` (where the videos are).
"""
from __future__ import annotations

from pathlib import Path

from har.builders.poses import PoseOptions
from har.builders.video import VideoOptions, VideoStores, build_video
from har.parallel import ComputeSettings
from har.transforms.denoise import DenoiseConfig
from pipeline import paths
from pipeline.ingest import IngestParams
from pipeline.params import as_record, load_params, section

QUARANTINE = paths.REPORTS / "video_quarantine.csv"


def run(params_file: Path, progress: bool = True) -> dict:
    params = load_params(params_file)
    options = section(VideoOptions, "video", params_file, params)
    poses = section(PoseOptions, "poses", params_file, params)
    denoise = section(DenoiseConfig, "denoise", params_file, params)
    ingest = section(IngestParams, "ingest", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    source = Path(ingest.source)
    if not source.is_dir():
        raise FileNotFoundError(f"ingest.source {source}: the video stage needs a raw NTU folder with "
                                f"nturgb+d_rgb/ videos (a PYSKL pickle has no video)")
    stores = VideoStores(clips=paths.RGB_CLIPS, crops=paths.PART_CROPS, stroi=paths.STROI)
    record = {"video": as_record(options), "poses": as_record(poses), "denoise": as_record(denoise)}
    return build_video(paths.INTERIM_SKELETONS, source, stores, QUARANTINE, compute, options, poses=poses,
                       denoise=denoise, params=record, progress=progress)
