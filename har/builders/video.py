"""Stage `video`: one sequential decode per video -> rgb_clips.zarr, part_crops.zarr, stroi.zarr + quarantine.

Samples of skeletons.zarr are read a block at a time (InterimReader), each worker decodes one video and cuts all
three artifacts from it (har.builders.video_sample), and this process writes the three stores in store order
through har.io.shards, one whole shard at a time (never rewriting a shard), so the output does not depend on the
scheduler. Given a work root the stage resumes after a crash from its last finished shard (har.io.work).
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
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from har.builders.ingest import write_quarantine
from har.builders.poses import PoseOptions, pose_view_attrs
from har.builders.skeletons import subset_splits
from har.builders.video_sample import VideoOptions, VideoSample, video_sample
from har.errors import HarError
from har.io.interim import InterimReader
from har.io.shards import Records, ShardSink
from har.io.store import (
    SHARD_TARGET_BYTES,
    create_sample_array,
    open_store,
    read_splits,
    samples_per_shard,
    stamp,
    write_array,
    write_meta,
    write_splits,
)
from har.io.video import RGB_DIR, video_path
from har.io.work import WorkArea, stage_fingerprint
from har.layout import CROP_PARTS, STROI_PARTS
from har.parallel import ComputeSettings
from har.shard_map import map_to_shards
from har.transforms.denoise import DenoiseConfig

__all__ = ["PoseOptions", "VideoOptions", "VideoStores", "VideoStageError", "build_video"]
CHANNEL_ORDER = "RGB"
FIELDS = ("xyz", "color_xy", "tracking")  # the skeletons.zarr row arrays a sample needs


class VideoStageError(HarError, RuntimeError):
    """A bad sample with fail_fast on, or inputs the stage cannot use at all."""


@dataclass(frozen=True)
class VideoStores:
    """Where the three artifacts go; None: that artifact is not cut at all (a store variant that writes only some
    of them, e.g. 64-frame part crops for one model). The stores written still come from one decode."""
    clips: Path | None
    crops: Path | None
    stroi: Path | None

    def named(self) -> dict[str, Path]:
        """Pixel array name -> store path, for the stores written."""
        return {name: path for name, path in (("clips", self.clips), ("crops", self.crops), ("mosaic", self.stroi))
                if path is not None}


def _items(reader: InterimReader, source: Path, block_size: int, start: int = 0) -> Iterator[dict]:
    for block in reader.iter_blocks(block_size, list(FIELDS), start):
        for item in block:
            yield {**item, "video": str(video_path(source, item["sample"]))}


class _Writer:
    """The three pixel arrays (fed through a har.io.shards.ShardSink, whole shards only) and the small per-sample
    arrays (written at the end from the settled records)."""

    def __init__(self, groups: dict, num: int, options: VideoOptions, shard_bytes: int, create: bool = True):
        t, cell = options.clip_frames, options.roi_out
        shapes = {"clips": (t, options.clip_size, options.clip_size, 3),
                  "crops": (len(CROP_PARTS), t, options.crop_size, options.crop_size, 3),
                  "mosaic": (len(STROI_PARTS) * cell, options.stroi_frames * cell, 3)}
        self.groups = groups
        shapes = {name: shape for name, shape in shapes.items() if name in groups}
        if create:
            for name, shape in shapes.items():
                create_sample_array(groups[name], name, num, shape, np.uint8,
                                    per_shard=samples_per_shard(int(np.prod(shape)), shard_bytes))
        self.pixels = {name: groups[name][name] for name in shapes}

    def split(self, result: VideoSample) -> tuple[dict[str, np.ndarray], dict]:
        """A kept sample's pixel rows (of the stores written) and its small record."""
        plan = result.plan
        roi_box = np.full((2, *plan.roi_boxes.shape[1:]), np.nan, np.float32)  # NaN: no second person
        roi_box[:len(plan.roi_boxes)] = plan.roi_boxes
        rows = {"clips": result.clip, "crops": result.crops, "mosaic": result.mosaic}
        rows = {name: rows[name][None] for name in self.pixels}
        return rows, {"clip_frames": plan.clip_frames, "box": plan.clip_box, "video_size": result.video_size,
                      "part_box": plan.part_boxes, "stroi_frames": plan.stroi_frames, "roi_box": roi_box,
                      "num_persons": len(plan.roi_boxes)}

    def finish(self, records: Records) -> None:
        """Write the per-sample arrays, one record field at a time (records: re-iterable, one per kept sample)."""
        small = {k: np.array([r[k] for r in records]) for k in next(iter(records))}
        arrays = {"clips": {"frame_index": small["clip_frames"].astype(np.int32),
                            "box": small["box"].astype(np.float32),
                            "video_size": small["video_size"].astype(np.int32)},
                  "crops": {"frame_index": small["clip_frames"].astype(np.int32),
                            "part_box": small["part_box"].astype(np.float32)},
                  "mosaic": {"frame_index": small["stroi_frames"].astype(np.int32),
                             "roi_box": small["roi_box"].astype(np.float32),
                             "num_persons": small["num_persons"].astype(np.int8)}}
        for name, group in self.groups.items():
            for key, values in arrays[name].items():
                write_array(group, key, values)


def _fail(reason: str) -> None:
    """video.fail_fast: the first bad sample stops the stage."""
    raise VideoStageError(reason)


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
    if "clips" in groups:
        stamp(groups["clips"], artifact="rgb_clips", size=options.clip_size, **common,
              frame_rule=f"subsample(uniform_sample_indices(F, {poses.frames}, None), {options.clip_frames})"
                         " of the kept frames, mapped to video frames",
              box=f"person box over all actors and frames, +{poses.box_padding:.0%}, squared")
    if "crops" in groups:
        stamp(groups["crops"], artifact="part_crops", size=options.crop_size, parts=[n for n, _ in CROP_PARTS],
              hand_scale=options.hand_scale, body_padding=options.body_padding, **common)
    if "mosaic" in groups:
        stamp(groups["mosaic"], artifact="stroi", **{**common, "frames": options.stroi_frames,
                                                     "persons": "actor 0 left half, actor 1 right half"},
              parts=[n for n, _ in STROI_PARTS], cell=options.roi_out, roi_size=options.roi_size,
              roi_reference_height=options.roi_reference_height)


def build_video(interim: Path, source: Path, stores: VideoStores, quarantine_csv: Path, settings: ComputeSettings,
                options: VideoOptions = VideoOptions(), poses: PoseOptions = PoseOptions(),
                denoise: DenoiseConfig = DenoiseConfig(), params: dict | None = None, progress: bool = True,
                work: Path | None = None, shard_bytes: int = SHARD_TARGET_BYTES) -> dict:
    """Build the three RGB artifacts from skeletons.zarr and the raw videos. Returns the closing summary.

    `poses` and `denoise` are the pose view shared with the heatmaps stage; `params` (the params sections read, as
    plain data) is recorded in the attrs. work: the stage's work root (resumable, har.io.work), or None;
    shard_bytes: raw bytes per shard."""
    source_group = open_store(interim, "skeletons")
    _check_inputs(source_group, interim, source)
    reader = InterimReader(source_group)
    num = len(reader)
    named = stores.named()
    if not named:
        raise VideoStageError("the video stage was given no store to write")
    outs = list(named.values())
    record = {"options": asdict(options), "poses": asdict(poses), "denoise": asdict(denoise), "params": params,
              "shard_bytes": shard_bytes, "outputs": list(named)}
    fingerprint = stage_fingerprint("video", [interim, Path(source) / RGB_DIR], record)
    with WorkArea("video", outs, work, fingerprint) as area:
        groups = dict(zip(named, map(area.group, outs)))
        writer = _Writer(groups, num, options, shard_bytes, create=not area.resuming)
        sink = ShardSink(writer.pixels, writer.split, area.journal)
        start = sink.resume()
        cut = partial(video_sample, options=options, poses=poses, denoise=denoise, outputs=tuple(named))
        kept, quarantine = map_to_shards(sink, cut,
                                         _items(reader, source, settings.block_size, start), reader.meta["sample"],
                                         settings, start=start, total=num - start, desc="video", progress=progress,
                                         on_quarantine=_fail if options.fail_fast else None)
        if not kept:
            write_quarantine(quarantine_csv, quarantine)
            raise VideoStageError(f"{interim}: no sample has a usable video and pose; reasons in {quarantine_csv}")
        writer.finish(kept.records())
        kept_index = kept.index()
        splits = subset_splits(read_splits(source_group), kept_index)
        for group in groups.values():
            write_meta(group, {k: v[kept_index] for k, v in reader.meta.items()})
            write_splits(group, splits)
        _stamp_all(groups, source_group, options, poses, denoise, params)
        resumed = area.report(sink.reused_shards, sink.shards, start, num)
    write_quarantine(quarantine_csv, quarantine)
    return {"samples": len(kept), "quarantined": len(quarantine), **({"resumed": resumed} if resumed else {})}
