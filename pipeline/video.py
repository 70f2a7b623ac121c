"""Stage `video@<variant>`: skeletons.zarr + raw videos -> data/features/video/<variant>/ holding the stores the
variant lists (rgb_clips.zarr, part_crops.zarr, stroi.zarr), all cut from one decode per video.

Reads params `video.variants.<variant>`, the pose view it names (`poses.variants.<its poses>`, shared with the
heatmaps variants that name it) and section `denoise` (shared with the skeletons and heatmaps stages). Where the
videos are comes from skeletons.zarr's record of its source (the folder the ingest stage read, whether from params
or `har-prep ingest --source`), never from params.
"""
from __future__ import annotations

from pathlib import Path

from har.builders.ingest import recorded_source
from har.builders.poses import PoseOptions
from har.builders.video import VideoOptions, VideoStores, build_video
from har.config import from_mapping
from har.io.store import open_store
from har.parallel import ComputeSettings
from har.transforms.denoise import DenoiseConfig
from pipeline import paths
from pipeline.params import as_record, load_params, section, variant_settings, variant_stores


def variant_options(params: dict, variant: str, params_file: Path) -> tuple[VideoOptions, tuple[str, ...], str,
                                                                             PoseOptions]:
    """(video options, the stores it writes, pose view name, pose view) of `video.variants.<variant>`."""
    where = f"{params_file}:video.variants.{variant}"
    settings = variant_settings(params, "video", variant, params_file)
    stores = variant_stores(params, "video", variant, where)
    settings.pop("stores")
    view = settings.pop("poses", None)
    poses = from_mapping(PoseOptions, variant_settings(params, "poses", view, params_file),
                         f"{params_file}:poses.variants.{view}")
    return from_mapping(VideoOptions, settings, where), stores, view, poses


def run(params_file: Path, variant: str = paths.DEFAULT_VARIANT, progress: bool = True) -> dict:
    params = load_params(params_file)
    options, written, view, poses = variant_options(params, variant, params_file)
    denoise = section(DenoiseConfig, "denoise", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    source = recorded_source(open_store(paths.INTERIM_SKELETONS, "skeletons"), paths.INTERIM_SKELETONS)
    if not source.is_dir():
        raise FileNotFoundError(f"{paths.INTERIM_SKELETONS} was ingested from {source}: the video stage needs a "
                                f"raw NTU folder with nturgb+d_rgb/ videos (a PYSKL pickle has no video)")
    stores = VideoStores(**{field: paths.feature_store(store, variant) if store in written else None
                            for field, store in (("clips", "rgb_clips"), ("crops", "part_crops"),
                                                 ("stroi", "stroi"))})
    record = {"variant": variant, "video": {"stores": list(written), **as_record(options)},
              "poses": {"variant": view, **as_record(poses)}, "denoise": as_record(denoise)}
    return build_video(paths.INTERIM_SKELETONS, source, stores, paths.quarantine("video", variant), compute,
                       options, poses=poses, denoise=denoise, params=record, progress=progress,
                       work=paths.work("video", variant))
