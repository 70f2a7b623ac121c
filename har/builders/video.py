"""Stage `video`: one sequential decode per video -> rgb_clips.zarr, part_crops.zarr, stroi.zarr + quarantine.

Samples of skeletons.zarr are read a block at a time (InterimReader), each worker decodes one video and cuts all
three artifacts from it (har.builders.video_sample), and this process alone writes the three stores in store
order, one whole shard at a time (never rewriting a shard), so the output does not depend on the scheduler.
A sample whose video is missing, undecodable or of another frame count than its skeleton file, or that has no
usable joints, is quarantined in the CSV (with `fail_fast` the first one stops the stage) and left out of all
three stores, so they stay aligned.

Stores (zarr v3, one chunk per sample, sharded; per-sample metadata and splits re-indexed onto kept samples):
- rgb_clips.zarr: `clips` (N, T, S, S, 3) uint8 RGB; `frame_index` (N, T) int32 video frames; `box` (N, 4)
  float32 person box (x0, y0, x1, y1) in video pixels; `video_size` (N, 2) int32 (height, width).
- part_crops.zarr: `crops` (N, P=3, T, s, s, 3) uint8 RGB, parts = har.layout.CROP_PARTS; `frame_index` (N, T);
  `part_box` (N, P, T, 4) float32.
- stroi.zarr: `mosaic` (N, K r, L r, 3) uint8 RGB, rows = har.layout.STROI_PARTS; `frame_index` (N, L);
  `roi_box` (N, 2, K, L, 4) float32 (NaN for a missing second person); `num_persons` (N,) int8.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from har.builders.ingest import write_quarantine
from har.builders.poses import PoseOptions, pose_view_attrs
from har.builders.skeletons import subset_splits
from har.builders.video_sample import VideoOptions, VideoSample, video_sample
from har.errors import HarError
from har.io.interim import InterimReader
from har.io.store import (
    atomic_store,
    create_sample_array,
    open_store,
    read_splits,
    stamp,
    write_array,
    write_meta,
    write_splits,
)
from har.io.video import RGB_DIR, video_path
from har.layout import CROP_PARTS, STROI_PARTS
from har.parallel import ComputeSettings, map_ordered
from har.transforms.denoise import DenoiseConfig

__all__ = ["PoseOptions", "VideoOptions", "VideoStores", "VideoStageError", "build_video"]
CHANNEL_ORDER = "RGB"
FIELDS = ("xyz", "color_xy", "tracking")  # the skeletons.zarr row arrays a sample needs


class VideoStageError(HarError, RuntimeError):
    """A bad sample with fail_fast on, or inputs the stage cannot use at all."""


@dataclass(frozen=True)
class VideoStores:
    """Where the three artifacts go."""
    clips: Path
    crops: Path
    stroi: Path


def _items(reader: InterimReader, source: Path, block_size: int) -> Iterator[dict]:
    for block in reader.iter_blocks(block_size, fields=list(FIELDS)):
        for item in block:
            yield {**item, "video": str(video_path(source, item["sample"]))}


class _ShardAppender:
    """Appends samples to an (N, ...) sample array one whole shard at a time.

    Writing whole shards means no shard is ever read back and rewritten; the buffer holds at most one shard
    (create_sample_array sizes shards to ~64 MB raw), whatever the dataset size.
    """

    def __init__(self, array):
        self.array, self.start, self.pending = array, 0, []
        self.per_shard = int(array.shards[0]) if array.shards else 1

    def append(self, sample: np.ndarray) -> None:
        self.pending.append(sample)
        if len(self.pending) >= self.per_shard:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            stop = self.start + len(self.pending)
            self.array[self.start:stop] = np.stack(self.pending)
            self.start, self.pending = stop, []

    def finish(self) -> None:
        """Write what is left and trim the array to the samples written."""
        self.flush()
        self.array.resize((self.start, *self.array.shape[1:]))


class _Writer:
    """The three pixel arrays (appended shard by shard) and the small per-sample arrays (kept in memory and
    written at the end)."""

    def __init__(self, groups: dict, num: int, options: VideoOptions):
        t, cell = options.clip_frames, options.roi_out
        shapes = {"clips": (t, options.clip_size, options.clip_size, 3),
                  "crops": (len(CROP_PARTS), t, options.crop_size, options.crop_size, 3),
                  "mosaic": (len(STROI_PARTS) * cell, options.stroi_frames * cell, 3)}
        self.groups = groups
        self.pixels = {name: _ShardAppender(create_sample_array(groups[name], name, num, shape, np.uint8))
                       for name, shape in shapes.items()}
        self.small: dict[str, list] = {k: [] for k in ("clip_frames", "box", "video_size", "part_box",
                                                        "stroi_frames", "roi_box", "num_persons")}

    def add(self, result: VideoSample) -> None:
        for name, value in (("clips", result.clip), ("crops", result.crops), ("mosaic", result.mosaic)):
            self.pixels[name].append(value)
        plan = result.plan
        roi_box = np.full((2, *plan.roi_boxes.shape[1:]), np.nan, np.float32)  # NaN: no second person
        roi_box[:len(plan.roi_boxes)] = plan.roi_boxes
        for key, value in (("clip_frames", plan.clip_frames), ("box", plan.clip_box),
                           ("video_size", result.video_size), ("part_box", plan.part_boxes),
                           ("stroi_frames", plan.stroi_frames), ("roi_box", roi_box),
                           ("num_persons", len(plan.roi_boxes))):
            self.small[key].append(value)

    def finish(self) -> None:
        for appender in self.pixels.values():
            appender.finish()
        small = {k: np.array(v) for k, v in self.small.items()}
        clips, crops, mosaic = self.groups["clips"], self.groups["crops"], self.groups["mosaic"]
        write_array(clips, "frame_index", small["clip_frames"].astype(np.int32))
        write_array(clips, "box", small["box"].astype(np.float32))
        write_array(clips, "video_size", small["video_size"].astype(np.int32))
        write_array(crops, "frame_index", small["clip_frames"].astype(np.int32))
        write_array(crops, "part_box", small["part_box"].astype(np.float32))
        write_array(mosaic, "frame_index", small["stroi_frames"].astype(np.int32))
        write_array(mosaic, "roi_box", small["roi_box"].astype(np.float32))
        write_array(mosaic, "num_persons", small["num_persons"].astype(np.int8))


def _check_inputs(source_group, interim: Path, source: Path) -> None:
    missing = [name for name in ("xyz", "color_xy", "tracking") if name not in source_group]
    if missing:
        raise VideoStageError(f"{interim}: the video stage needs NTU colour coordinates (xyz, color_xy, tracking);"
                              f" this store from a {source_group.attrs.get('source_format')!r} source lacks "
                              f"{missing}")
    if not (Path(source) / RGB_DIR).is_dir():
        raise VideoStageError(f"{source}: no {RGB_DIR}/ folder of <sample>_rgb.avi videos")


def _stamp_all(groups: dict, source_group, options: VideoOptions, poses: PoseOptions, denoise: DenoiseConfig,
               params: dict | None) -> None:
    common = dict(params=params, layout=source_group.attrs["layout"], variant=source_group.attrs["variant"],
                  channel_order=CHANNEL_ORDER, frames=options.clip_frames, **pose_view_attrs(poses, denoise))
    stamp(groups["clips"], artifact="rgb_clips", size=options.clip_size, **common,
          frame_rule=f"subsample(uniform_sample_indices(F, {poses.frames}, None), {options.clip_frames})"
                     " of the kept frames, mapped to video frames",
          box=f"person box over all actors and frames, +{poses.box_padding:.0%}, squared")
    stamp(groups["crops"], artifact="part_crops", size=options.crop_size, parts=[n for n, _ in CROP_PARTS],
          hand_scale=options.hand_scale, body_padding=options.body_padding, **common)
    stamp(groups["mosaic"], artifact="stroi", **{**common, "frames": options.stroi_frames,
                                                 "persons": "actor 0 left half, actor 1 right half"},
          parts=[n for n, _ in STROI_PARTS], cell=options.roi_out, roi_size=options.roi_size,
          roi_reference_height=options.roi_reference_height)


def build_video(interim: Path, source: Path, stores: VideoStores, quarantine_csv: Path, settings: ComputeSettings,
                options: VideoOptions = VideoOptions(), poses: PoseOptions = PoseOptions(),
                denoise: DenoiseConfig = DenoiseConfig(), params: dict | None = None, progress: bool = True) -> dict:
    """Build the three RGB artifacts from skeletons.zarr and the raw videos. Returns the closing summary.

    `poses` and `denoise` are the pose view shared with the heatmaps stage; `params` (the params sections read, as
    plain data) is recorded in the attrs."""
    source_group = open_store(interim, "skeletons")
    _check_inputs(source_group, interim, source)
    reader = InterimReader(source_group)
    num = len(reader)
    quarantine, kept = [], []
    with atomic_store(stores.clips) as clips, atomic_store(stores.crops) as crops, \
            atomic_store(stores.stroi) as stroi:
        groups = {"clips": clips, "crops": crops, "mosaic": stroi}
        writer = _Writer(groups, num, options)
        results = map_ordered(partial(video_sample, options=options, poses=poses, denoise=denoise),
                              _items(reader, source, settings.block_size),
                              settings, desc="video", total=num, progress=progress)
        for index, result in enumerate(results):
            if isinstance(result, str):
                if options.fail_fast:
                    raise VideoStageError(result)
                quarantine.append((reader.meta["sample"][index], result))
                continue
            kept.append(index)
            writer.add(result)
        if not kept:
            write_quarantine(quarantine_csv, quarantine)
            raise VideoStageError(f"{interim}: no sample has a usable video and pose; reasons in {quarantine_csv}")
        writer.finish()
        kept_index = np.array(kept, np.int64)
        splits = subset_splits(read_splits(source_group), kept_index)
        for group in groups.values():
            write_meta(group, {k: v[kept_index] for k, v in reader.meta.items()})
            write_splits(group, splits)
        _stamp_all(groups, source_group, options, poses, denoise, params)
    write_quarantine(quarantine_csv, quarantine)
    return {"samples": len(kept), "quarantined": len(quarantine)}
