"""One raw sample through the stages' own per-sample functions, without any store (`har-prep predict`).

Each step is the very function a stage maps over its samples: the ingest stage's `read_sample`, then
`normalized_skeleton` (skeletons), `heatmap_sample` (heatmaps) and `video_sample` (video), each given the
InterimReader item the stage would read for this sample (har.io.interim.sample_item with the stage's own FIELDS).
The arrays come back under the names the feature stores keep per sample (har.train.data.STORE_ARRAYS), so a
recipe's `make_inputs` takes them exactly as it takes a stored sample. `check_against_stores` refuses settings
that differ from the ones the stores a model was trained on recorded.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from har.builders import heatmaps as heatmap_stage
from har.builders import skeletons as skeleton_stage
from har.builders import video as video_stage
from har.builders.heatmaps import HeatmapOptions, heatmap_sample
from har.builders.ingest import read_sample
from har.builders.poses import PoseOptions
from har.builders.skeletons import SkeletonOptions, normalized_skeleton
from har.builders.video_sample import VideoOptions, video_sample
from har.config import ConfigError, to_mapping
from har.errors import HarError
from har.io.interim import sample_item
from har.io.shards import Kept, Quarantined
from har.transforms.denoise import DenoiseConfig

# Feature store -> the stage (DVC stage and params section) that builds it.
STAGES = {"skeleton": "skeletons", "heatmaps": "heatmaps", "rgb_clips": "video", "part_crops": "video",
          "stroi": "video"}


class SampleError(HarError, ValueError):
    """A sample the stages would quarantine (unreadable file, no usable body, bad video), or a missing input."""


@dataclass(frozen=True)
class StageSettings:
    """The params sections the data stages read (attribute name = section name)."""
    skeletons: SkeletonOptions = field(default_factory=SkeletonOptions)
    heatmaps: HeatmapOptions = field(default_factory=HeatmapOptions)
    poses: PoseOptions = field(default_factory=PoseOptions)
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)
    video: VideoOptions = field(default_factory=VideoOptions)


def needs_video(stores: Sequence[str]) -> bool:
    """Whether any of the feature stores is cut from the RGB video."""
    return any(STAGES[store] == "video" for store in stores)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - began


def _checked(outcome: Kept | Quarantined, sample: str):
    """The value of a kept sample; SampleError where the stage would quarantine it."""
    if isinstance(outcome, Quarantined):
        reason = outcome.reason
        raise SampleError(reason if reason.startswith(sample) else f"{sample}: {reason}")
    return outcome.value


def sample_arrays(skeleton_file: Path, stores: Sequence[str], settings: StageSettings,
                  video_file: Path | None = None, timings: dict[str, float] | None = None) -> dict[str, Any]:
    """Per-sample arrays of the feature `stores` for one .skeleton file (and its _rgb.avi for the RGB stores), as
    the stages compute them: {'x': (M, T, V, 3), 'length', 'heatmaps': (K, T, H, W) uint8, 'keypoints':
    (M, F, V, 2), 'num_frames', 'clips': (T, S, S, 3) uint8, 'crops': (P, T, s, s, 3), 'mosaic': (K r, L r, 3)}
    (only those of `stores`; heatmaps' keypoints are not padded to the store's longest sample).

    `timings` (if given) receives seconds per step: read, skeleton, heatmaps, video decode, crops (the video
    stage's work apart from decoding: pose, plan, cutting). Raises SampleError where the stage would quarantine.
    """
    unknown = [s for s in stores if s not in STAGES]
    if unknown:
        raise KeyError(f"unknown feature store(s) {unknown} (known: {', '.join(STAGES)})")
    if needs_video(stores) and video_file is None:
        raise SampleError(f"{Path(skeleton_file).name}: the stores {list(stores)} are cut from the video: give "
                          f"the sample's _rgb.avi")
    timings = {} if timings is None else timings
    with _timed(timings, "read"):
        tracks = _checked(read_sample(Path(skeleton_file)), Path(skeleton_file).name)
    arrays: dict[str, Any] = {}
    if "skeleton" in stores:
        with _timed(timings, "skeleton"):
            x, length = _checked(normalized_skeleton(sample_item(tracks, skeleton_stage.FIELDS),
                                                     settings.skeletons, settings.denoise), tracks.name)
        arrays.update(x=x, length=np.int32(length))
    if "heatmaps" in stores:
        with _timed(timings, "heatmaps"):
            result = _checked(heatmap_sample(sample_item(tracks, heatmap_stage.FIELDS), settings.heatmaps,
                                             settings.poses, settings.denoise), tracks.name)
        arrays.update(heatmaps=result["heatmaps"], keypoints=result["keypoints"],
                      num_frames=np.int32(result["num_frames"]))
        if result["scores"] is not None:
            arrays["scores"] = result["scores"]
    if needs_video(stores):
        item = {**sample_item(tracks, video_stage.FIELDS), "video": str(video_file)}
        began = time.perf_counter()
        result = _checked(video_sample(item, settings.video, settings.poses, settings.denoise), tracks.name)
        timings["video decode"] = result.decode_seconds
        timings["crops"] = time.perf_counter() - began - result.decode_seconds
        pixels = {"rgb_clips": ("clips", result.clip), "part_crops": ("crops", result.crops),
                  "stroi": ("mosaic", result.mosaic)}
        arrays.update(dict(pixels[store] for store in stores if store in pixels))
    return arrays


def _plain(value):
    """Plain JSON data, as zarr attrs hold it (tuples become lists)."""
    return json.loads(json.dumps(value))


def check_against_stores(settings: StageSettings, stores: Mapping[str, Any], params_file: str = "params.yaml") -> None:
    """Every params section a store recorded (attr `params`, written by its stage) must equal `settings`' section
    of that name, so one sample is preprocessed exactly as the stores a model was trained on.

    stores: store name -> opened zarr group (anything with `.attrs`). Raises ConfigError naming the first key that
    differs, with both values.
    """
    for store, group in stores.items():
        recorded = dict(group.attrs).get("params")
        if not recorded:
            raise ConfigError(f"{store}.zarr does not record the params it was built with (built by an older "
                              f"version): rebuild it (dvc repro)")
        for name, stored in recorded.items():
            if not hasattr(settings, name):
                raise ConfigError(f"{store}.zarr records params section {name!r}, which predict does not read")
            current = _plain(to_mapping(getattr(settings, name)))
            for key in sorted(set(stored) | set(current)):
                if stored.get(key) != current.get(key):
                    raise ConfigError(
                        f"{params_file}: {name}.{key}={current.get(key)!r} but {store}.zarr, which the model was "
                        f"trained on, was built with {name}.{key}={stored.get(key)!r}: predict preprocesses as "
                        f"the stores were built; restore the key, or rebuild the stores and retrain (dvc repro)")
