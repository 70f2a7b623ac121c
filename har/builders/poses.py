"""The 2D pose view of a sample shared by the heatmap and video stages: the same actors, frames and person box.

Both stages read the ragged tracks of skeletons.zarr, denoise them exactly as the skeleton stage does (params
section `denoise`, read by all three stages), and work in the pixel space of the RGB video (NTU colour coordinates,
or PYSKL 2D keypoints in their image). The pose frames and the person box come from one params section, `poses`
(PoseOptions), read by both stages, so EPAM-Net's heatmaps and RGB clips are aligned by construction. Both stages
write `pose_view_attrs` into their stores, so a consumer can check that two stores saw the same view.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from har.errors import HarError
from har.transforms.box import person_box
from har.transforms.denoise import DenoiseConfig, NoActorError, select_actors


@dataclass(frozen=True)
class Pose2D:
    """One sample's actors in video pixels.

    frames: (F,) source frame indices with an actor (increasing) — also the video frame indices
    keypoints: (M, F, V, 2) float32 pixels, NaN where an actor or joint is absent
    scores: (M, F, V) float32 or None (None: NTU colour coordinates, every present joint counts fully)
    box: (x0, y0, x1, y1) person-centric box over all actors and frames (PoseCompact: +25 %, squared)
    """
    frames: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray | None
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class PoseOptions:
    """params.yaml section `poses`: the pose view shared by the heatmaps and video stages."""
    frames: int = 48  # uniformly sampled pose frames (test mode: the middle of each bin): the heatmaps' T (PoseC3D:
    #                   48); the RGB clip and part crops take video.clip_frames of these indices
    box_padding: float = 0.25  # person box over all actors and frames (PoseCompact: +25 %, squared)

    def __post_init__(self):
        if self.frames < 1:
            raise ValueError(f"poses.frames must be at least 1, got {self.frames}")
        if self.box_padding < 0:
            raise ValueError(f"poses.box_padding must be >= 0, got {self.box_padding}")


def pose_view_attrs(poses: PoseOptions, denoise: DenoiseConfig) -> dict:
    """Store attrs recording the pose view an artifact was cut from (the producers' params, as plain data)."""
    return {"pose_frames": poses.frames, "box_padding": poses.box_padding, "persons": denoise.max_actors,
            "denoise": dataclasses.asdict(denoise)}


class PoseError(HarError, ValueError):
    """A sample without any usable 2D joint."""


def pose_2d(item: dict, denoise: DenoiseConfig, box_padding: float = 0.25) -> Pose2D:
    """Actors of one InterimReader sample as 2D keypoints in video pixels, with their person box.

    Tracks must carry `color_xy` in extra (NTU colour coordinates, or PYSKL 2D keypoints with a `score` extra).
    Joints whose tracking state is 0 (not tracked) or whose score is 0 count as missing.
    """
    try:
        actors = select_actors(item["tracks"], denoise)
    except NoActorError as error:
        raise PoseError(f"{item['sample']}: {error}") from error
    keypoints = actors.extra["color_xy"].astype(np.float32)
    valid = np.broadcast_to(actors.present[..., None], keypoints.shape[:3])
    if "tracking" in actors.extra:
        valid = valid & (actors.extra["tracking"] > 0)
    scores = actors.extra.get("score")
    if scores is not None:
        scores = scores.astype(np.float32)
        valid = valid & (scores > 0)
    keypoints = np.where(valid[..., None], keypoints, np.nan).astype(np.float32)
    if not np.isfinite(keypoints).any():
        raise PoseError(f"{item['sample']}: no tracked 2D joint in any frame")
    box = person_box(keypoints, padding=box_padding)
    return Pose2D(frames=actors.frames, keypoints=keypoints, scores=scores, box=tuple(float(v) for v in box))
