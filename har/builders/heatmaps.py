"""Stage `heatmaps`: skeletons.zarr -> heatmaps.zarr, Gaussian pseudo-heatmaps of the person-centric pose.

Per sample: the denoised actors in video pixels (har.builders.poses, shared with the video stage: params sections
`denoise` and `poses`), the PoseCompact person box (`poses.box_padding`), keypoints mapped into an H x W grid over
that box, `poses.frames` (48) test-mode uniformly sampled frames, PoseC3D heatmaps quantised to uint8
(value = round(255 h)).
Besides the fixed-index heatmaps the store keeps every kept frame's grid keypoints, so training can draw one random
frame per bin and render its heatmaps on the fly (PoseC3D's training sampling) without re-reading the raw data.
The store's attrs record how it rendered (sigma, limbs, size, frames, channels, joints, the pose view): training
renders with those, never with a copy of them in its own params section.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from har.builders.ingest import write_quarantine
from har.builders.poses import PoseError, PoseOptions, pose_2d, pose_view_attrs
from har.builders.skeletons import subset_splits
from har.io.interim import InterimReader
from har.io.shards import Kept, Quarantined, ShardSink
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
from har.io.work import WorkArea, stage_fingerprint
from har.parallel import ComputeSettings
from har.shard_map import map_to_shards
from har.transforms.box import keypoints_to_box_frame
from har.transforms.denoise import DenoiseConfig
from har.transforms.heatmap import default_edges, gaussian_heatmaps
from har.transforms.sample import uniform_sample_indices

ARTIFACT = "heatmaps"
# The skeletons.zarr row arrays a sample needs: NTU colour coordinates (+ 3D joints and tracking states for the
# denoising), or PYSKL 2D keypoints with their scores.
FIELDS = ("xyz", "color_xy", "tracking")
FIELDS_2D = ("color_xy", "score")


@dataclass(frozen=True)
class HeatmapOptions:
    """params.yaml section `heatmaps` (frames and person box: section `poses`; actors: section `denoise`)."""
    size: int = 32  # heatmap height = width (PoseC3D: 56 or 64)
    sigma: float = 0.6  # Gaussian std in heatmap pixels (recorded in the store; EPAM's training rendering reads it)
    limbs: bool = False  # add one channel per bone after the joint channels

    # Keys this section used to hold: each setting now has one home.
    moved_keys: ClassVar[dict[str, str]] = {
        "frames": "the pose frame count is poses.frames (shared with the video stage)",
        "box_padding": "the person box padding is poses.box_padding (shared with the video stage)",
        "denoise": "actor selection is the top-level `denoise` section (shared by skeletons, heatmaps, video)",
    }


def render(keypoints: np.ndarray, scores: np.ndarray | None, index: np.ndarray,
           options: HeatmapOptions) -> np.ndarray:
    """(K, T, H, W) uint8 heatmaps of frames `index` of grid keypoints (M, F, V, 2) (NaN = missing)."""
    picked = keypoints[:, index]
    return gaussian_heatmaps(picked, None if scores is None else scores[:, index], (options.size, options.size),
                             options.sigma, with_limbs=options.limbs, dtype=np.uint8)


def heatmap_sample(item: dict, options: HeatmapOptions, poses: PoseOptions = PoseOptions(),
                   denoise: DenoiseConfig = DenoiseConfig()) -> Kept[dict] | Quarantined:
    """One InterimReader sample -> Kept({'heatmaps', 'keypoints', 'scores', 'num_frames', 'scale'}) or why it is
    unusable."""
    try:
        pose = pose_2d(item, denoise, poses.box_padding)
    except PoseError as error:
        return Quarantined(str(error))
    grid = keypoints_to_box_frame(pose.keypoints, pose.box, (options.size, options.size)).astype(np.float32)
    index = uniform_sample_indices(len(pose.frames), poses.frames, None)
    return Kept({"heatmaps": render(grid, pose.scores, index, options), "keypoints": grid, "scores": pose.scores,
                 "num_frames": len(pose.frames), "scale": options.size / (pose.box[2] - pose.box[0])})


def _padded(array: np.ndarray, frames: int, fill) -> np.ndarray:
    out = np.full((array.shape[0], frames, *array.shape[2:]), fill, array.dtype)
    out[:, : array.shape[1]] = array
    return out


def _heatmap_rows(value: dict, max_frames: int) -> tuple[dict[str, np.ndarray], tuple[int, float]]:
    """A kept sample's rows (heatmaps, keypoints and scores padded to max_frames) and its record."""
    rows = {"heatmaps": value["heatmaps"][None], "keypoints": _padded(value["keypoints"], max_frames, np.nan)[None]}
    if value["scores"] is not None:
        rows["scores"] = _padded(value["scores"], max_frames, 0.0)[None]
    return rows, (int(value["num_frames"]), float(value["scale"]))


def _create_arrays(group, num: int, shapes: dict, shard_bytes: int) -> None:
    """The (N, ...) arrays of heatmaps.zarr; shapes: name -> (sample shape, dtype, fill value)."""
    for name, (shape, dtype, fill) in shapes.items():
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        create_sample_array(group, name, num, shape, dtype, fill_value=fill,
                            per_shard=samples_per_shard(nbytes, shard_bytes))


def build_heatmaps(interim: Path, out: Path, quarantine_csv: Path, settings: ComputeSettings,
                   options: HeatmapOptions = HeatmapOptions(), poses: PoseOptions = PoseOptions(),
                   denoise: DenoiseConfig = DenoiseConfig(), params: dict | None = None,
                   progress: bool = True, work: Path | None = None, shard_bytes: int = SHARD_TARGET_BYTES) -> dict:
    """Build heatmaps.zarr; `params` (the params sections read, as plain data) is recorded in the attrs.

    work: the stage's work root (resumable, har.io.work), or None; shard_bytes: raw bytes per shard."""
    source = open_store(interim, "skeletons")
    if "color_xy" not in source:
        raise ValueError(f"{interim}: no 2D joint coordinates (source {source.attrs.get('source_format')!r}); "
                         f"heatmaps need raw NTU data (colour coordinates) or a PYSKL 2D pickle")
    reader = InterimReader(source)
    two_d = "score" in source
    joints, num = int(source.attrs["num_joints"]), len(reader)
    channels = joints + (len(default_edges(joints)) if options.limbs else 0)
    max_frames, persons = int(reader.num_frames.max()), denoise.max_actors
    shapes = {"heatmaps": ((channels, poses.frames, options.size, options.size), np.uint8, 0),
              "keypoints": ((persons, max_frames, joints, 2), np.float32, np.nan)}
    if two_d:
        shapes["scores"] = ((persons, max_frames, joints), np.float32, 0)
    record = {"options": asdict(options), "poses": asdict(poses), "denoise": asdict(denoise), "params": params,
              "shard_bytes": shard_bytes}
    with WorkArea("heatmaps", [out], work, stage_fingerprint("heatmaps", [interim], record)) as area:
        group = area.group(out)
        if not area.resuming:
            _create_arrays(group, num, shapes, shard_bytes)
        sink = ShardSink({name: group[name] for name in shapes}, partial(_heatmap_rows, max_frames=max_frames),
                         area.journal)
        start = sink.resume()
        items = (item for block in reader.iter_blocks(settings.block_size, list(FIELDS_2D if two_d else FIELDS),
                                                      start) for item in block)
        kept, quarantine = map_to_shards(sink, partial(heatmap_sample, options=options, poses=poses,
                                                       denoise=denoise), items, reader.meta["sample"], settings,
                                         start=start, total=num - start, desc="heatmaps", progress=progress)
        if not kept:
            raise ValueError(f"{interim}: no sample has usable 2D joints; see {quarantine_csv}")
        kept_index = kept.index()
        write_array(group, "num_frames", np.fromiter((frames for frames, _ in kept.records()), np.int32, len(kept)))
        write_array(group, "scale", np.fromiter((scale for _, scale in kept.records()), np.float32, len(kept)))
        write_meta(group, {k: v[kept_index] for k, v in reader.meta.items()})
        write_splits(group, subset_splits(read_splits(source), kept_index))
        stamp(group, artifact=ARTIFACT, params=params, layout=source.attrs["layout"], sigma=options.sigma,
              frames=poses.frames, size=options.size, limbs=options.limbs, channels=channels, joints=joints,
              value="round(255 * heatmap)", **pose_view_attrs(poses, denoise))
        resumed = area.report(sink.reused_shards, sink.shards, start, num)
    write_quarantine(quarantine_csv, quarantine)
    return {"samples": len(kept), "quarantined": len(quarantine), "channels": channels,
            **({"resumed": resumed} if resumed else {})}
