"""One Kinect's recording of a performance: the body tracks of a `.skeleton` file.

The recording sees the performance's clean joints through the camera, then adds what a real Kinect adds:
jitter, inferred joints, a few empty leading frames before tracking locks on, occasionally a partner tracked a
few frames late and short ghost bodies. Colour and depth coordinates are projections of the written (noisy)
xyz, so they agree with each other and land on the person drawn from the clean joints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from har.io.skeleton_format import BodyTrack
from har.synth.camera import KinectCamera, project_depth
from har.synth.config import SynthConfig
from har.synth.kinematics import joint_orientations
from har.synth.noise import (
    GHOST_MAX_FRAMES,
    body_ids,
    clipped_edges,
    ghost_joints,
    hand_fields,
    inferred_error,
    joint_jitter,
    lean,
    tracking_states,
)
from har.synth.performance import Performance

WINDOW_SLACK = 3  # the three Kinects start and stop a few frames apart: each records its own window


@dataclass(frozen=True)
class Recording:
    """tracks: performers first, then ghosts; frame_order: per frame the (track, row) pairs in file order;
    performers: (A, F, 25, 3) clean camera-space joints of the people drawn in the video."""
    num_frames: int
    tracks: tuple[BodyTrack, ...]
    frame_order: tuple[tuple[tuple[BodyTrack, int], ...], ...]
    performers: np.ndarray
    grip: np.ndarray  # (A, F, 2)
    leading_empty: int
    ghosts: int


def record(performance: Performance, camera: KinectCamera, rng: np.random.Generator, config: SynthConfig,
           frames: int) -> Recording:
    """Record `frames` frames of the performance (which must be at least that long) with one camera."""
    if performance.num_frames < frames:
        raise ValueError(f"performance of {performance.num_frames} frames cannot give a {frames}-frame recording")
    start = int(rng.integers(0, performance.num_frames - frames + 1))
    clean = camera.to_camera(performance.joints[:, start:start + frames])
    grip = performance.grip[:, start:start + frames]
    leading = int(rng.integers(1, config.max_leading_empty + 1)) if (
        rng.random() < config.leading_empty_probability and config.max_leading_empty > 0) else 0
    num_ghosts = int(rng.random() < config.ghost_probability) + int(rng.random() < config.ghost_probability / 4)
    ids = body_ids(rng, len(clean) + num_ghosts)
    slots = rng.permutation(6)  # Kinect lists bodies by its internal slot, not by arrival
    tracks, track_slots = [], []
    for actor in range(len(clean)):
        late = int(rng.integers(1, 4)) if actor > 0 and rng.random() < 0.3 else 0
        first = leading + late
        tracks.append(_performer_track(rng, ids[actor], np.arange(first, frames), clean[actor, first:],
                                       grip[actor, first:], camera, config))
        track_slots.append(slots[actor])
    for ghost in range(num_ghosts):
        length = int(rng.integers(2, GHOST_MAX_FRAMES + 1))
        begin = int(rng.integers(leading, frames - length + 1))
        tracks.append(_ghost_track(rng, ids[len(clean) + ghost], np.arange(begin, begin + length), camera))
        track_slots.append(slots[len(clean) + ghost])
    order = [[] for _ in range(frames)]
    for _, track in sorted(zip(track_slots, tracks), key=lambda pair: pair[0]):
        for row, frame in enumerate(track.frames):
            order[int(frame)].append((track, row))
    return Recording(frames, tuple(tracks), tuple(tuple(f) for f in order), clean, grip, leading, num_ghosts)


def _performer_track(rng, body_id, frames, clean, grip, camera, config) -> BodyTrack:
    states = tracking_states(rng, clean, config.inferred_rate)
    xyz = clean + joint_jitter(rng, len(frames), config.joint_noise_mm / 1000.0) + inferred_error(rng, states)
    depth_xy = project_depth(xyz)
    info = np.zeros((len(frames), 7), dtype=np.int32)
    info[:, 0] = clipped_edges(depth_xy)
    info[:, 1:5] = hand_fields(rng, grip, states, xyz)
    info[:, 6] = 2  # body trackingState: tracked (isRestricted, column 5, stays 0)
    return _track(body_id, frames, xyz, depth_xy, camera, states, info, lean(rng, xyz))


def _ghost_track(rng, body_id, frames, camera) -> BodyTrack:
    xyz, states = ghost_joints(rng, len(frames))
    depth_xy = project_depth(xyz)
    info = np.zeros((len(frames), 7), dtype=np.int32)
    info[:, 0] = clipped_edges(depth_xy)
    info[:, 6] = 2
    return _track(body_id, frames, xyz, depth_xy, camera, states, info, lean(rng, xyz))


def _track(body_id, frames, xyz, depth_xy, camera, states, info, lean_values) -> BodyTrack:
    return BodyTrack(body_id=body_id, frames=np.asarray(frames, dtype=np.int32), xyz=xyz.astype(np.float32),
                     depth_xy=depth_xy.astype(np.float32), color_xy=camera.project_color(xyz).astype(np.float32),
                     orientation=joint_orientations(xyz).astype(np.float32), tracking=states.astype(np.int8),
                     body_info=info, lean=lean_values)
