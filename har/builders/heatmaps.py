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

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from har.builders.ingest import write_quarantine
from har.builders.poses import PoseError, PoseOptions, pose_2d, pose_view_attrs
from har.builders.skeletons import subset_splits
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
from har.parallel import ComputeSettings, map_ordered
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
                   denoise: DenoiseConfig = DenoiseConfig()) -> dict | str:
    """One InterimReader sample -> {'heatmaps', 'keypoints', 'scores', 'num_frames', 'scale'} or a reason."""
    try:
        pose = pose_2d(item, denoise, poses.box_padding)
    except PoseError as error:
        return str(error)
    grid = keypoints_to_box_frame(pose.keypoints, pose.box, (options.size, options.size)).astype(np.float32)
    index = uniform_sample_indices(len(pose.frames), poses.frames, None)
    return {"heatmaps": render(grid, pose.scores, index, options), "keypoints": grid, "scores": pose.scores,
            "num_frames": len(pose.frames), "scale": options.size / (pose.box[2] - pose.box[0])}


def _padded(array: np.ndarray, frames: int, fill) -> np.ndarray:
    out = np.full((array.shape[0], frames, *array.shape[2:]), fill, array.dtype)
    out[:, : array.shape[1]] = array
    return out


def build_heatmaps(interim: Path, out: Path, quarantine_csv: Path, settings: ComputeSettings,
                   options: HeatmapOptions = HeatmapOptions(), poses: PoseOptions = PoseOptions(),
                   denoise: DenoiseConfig = DenoiseConfig(), params: dict | None = None,
                   progress: bool = True) -> dict:
    """Build heatmaps.zarr; `params` (the params sections read, as plain data) is recorded in the attrs."""
    source = open_store(interim, "skeletons")
    if "color_xy" not in source:
        raise ValueError(f"{interim}: no 2D joint coordinates (source {source.attrs.get('source_format')!r}); "
                         f"heatmaps need raw NTU data (colour coordinates) or a PYSKL 2D pickle")
    reader = InterimReader(source)
    two_d = "score" in source
    fields = list(FIELDS_2D if two_d else FIELDS)
    joints, num = int(source.attrs["num_joints"]), len(reader)
    channels = joints + (len(default_edges(joints)) if options.limbs else 0)
    max_frames = int(reader.num_frames.max())
    persons = denoise.max_actors
    items = (item for block in reader.iter_blocks(settings.block_size, fields) for item in block)
    quarantine, kept, counts, scales = [], [], [], []
    with atomic_store(out) as group:
        arrays = {"heatmaps": create_sample_array(group, "heatmaps", num,
                                                  (channels, poses.frames, options.size, options.size), np.uint8),
                  "keypoints": create_sample_array(group, "keypoints", num, (persons, max_frames, joints, 2),
                                                   np.float32, fill_value=np.nan)}
        if two_d:
            arrays["scores"] = create_sample_array(group, "scores", num, (persons, max_frames, joints), np.float32)
        pending: list[dict] = []
        results = map_ordered(partial(heatmap_sample, options=options, poses=poses, denoise=denoise), items,
                              settings, desc="heatmaps",
                              total=num, progress=progress)
        for index, result in enumerate(results):
            if isinstance(result, str):
                quarantine.append((reader.meta["sample"][index], result))
                continue
            kept.append(index)
            counts.append(result["num_frames"])
            scales.append(result["scale"])
            pending.append(result)
            if len(pending) >= settings.block_size:
                _write(arrays, pending, len(kept) - len(pending), max_frames)
                pending = []
        _write(arrays, pending, len(kept) - len(pending), max_frames)
        if not kept:
            raise ValueError(f"{interim}: no sample has usable 2D joints; see {quarantine_csv}")
        kept_index = np.array(kept, np.int64)
        for array in arrays.values():
            array.resize((len(kept), *array.shape[1:]))
        write_array(group, "num_frames", np.array(counts, np.int32))
        write_array(group, "scale", np.array(scales, np.float32))
        write_meta(group, {k: v[kept_index] for k, v in reader.meta.items()})
        write_splits(group, subset_splits(read_splits(source), kept_index))
        stamp(group, artifact=ARTIFACT, params=params, layout=source.attrs["layout"], sigma=options.sigma,
              frames=poses.frames, size=options.size, limbs=options.limbs, channels=channels, joints=joints,
              value="round(255 * heatmap)", **pose_view_attrs(poses, denoise))
    write_quarantine(quarantine_csv, quarantine)
    return {"samples": len(kept), "quarantined": len(quarantine), "channels": channels}


def _write(arrays: dict, pending: list[dict], start: int, max_frames: int) -> None:
    if not pending:
        return
    stop = start + len(pending)
    arrays["heatmaps"][start:stop] = np.stack([p["heatmaps"] for p in pending])
    arrays["keypoints"][start:stop] = np.stack([_padded(p["keypoints"], max_frames, np.nan) for p in pending])
    if "scores" in arrays:
        arrays["scores"][start:stop] = np.stack([_padded(p["scores"], max_frames, 0.0) for p in pending])
