"""Kinect-like artefacts: joint jitter, inferred joints, ghost bodies, and the per-body info fields.

Real Kinect v2 skeletons jitter by a few millimetres on the trunk and more on the extremities, report joints
they cannot see as "inferred" (trackingState 1, noticeably off), and now and then track a short-lived spurious
body (a reflection, a chair) under a new ID. Ghosts made here are always removable by the standard NTU
denoising (DESIGN.md §3): they last at most 11 frames and are wider than tall (x-spread > 0.8 y-spread).
"""
from __future__ import annotations

import numpy as np

from har.layout import NUM_JOINTS
from har.synth.camera import DEPTH_SIZE
from har.synth.motion import smooth_noise

TRACKED, INFERRED = 2, 1
KINECT_ID_BASE = 72057594037927936  # 2**56: Kinect v2 body tracking IDs are this plus a small counter
GHOST_MAX_FRAMES = 11  # the NTU denoising drops tracks of <= 11 frames

# Jitter per joint in multiples of the base sigma: trunk least, hand tips and thumbs most.
JITTER_SCALE = np.ones(NUM_JOINTS)
JITTER_SCALE[[3]] = 1.2
JITTER_SCALE[[4, 8, 12, 16]] = 1.3
JITTER_SCALE[[5, 9, 13, 17]] = 1.6
JITTER_SCALE[[6, 10, 14, 18]] = 2.2
JITTER_SCALE[[7, 11, 15, 19]] = 2.8
JITTER_SCALE[[21, 22, 23, 24]] = 4.5
# Joints whose tracking comes and goes: per arm (elbow, wrist, hand, tip, thumb) and per leg (ankle, foot).
FLAKY_GROUPS = ((5, 6, 7, 21, 22), (9, 10, 11, 23, 24), (14, 15), (18, 19))


def joint_jitter(rng: np.random.Generator, frames: int, sigma: float) -> np.ndarray:
    """(frames, 25, 3) measurement noise in metres: slow drift plus white noise, depth (z) 1.5x noisier."""
    drift = smooth_noise(rng, frames, (NUM_JOINTS, 3), 2.0)
    white = rng.standard_normal((frames, NUM_JOINTS, 3))
    noise = sigma * JITTER_SCALE[None, :, None] * (0.6 * drift + 0.8 * white)
    noise[..., 2] *= 1.5
    return noise


def occluded_by_torso(xyz: np.ndarray) -> np.ndarray:
    """(F, 25) bool: joints hidden behind the person's own torso as seen from the camera.

    xyz: (F, 25, 3) camera space. A joint is hidden when it is deeper than the torso and its viewing ray passes
    through the torso's silhouette (shoulder-to-shoulder wide, hips to shoulders high)."""
    torso = xyz[:, [0, 1, 20]].mean(axis=1)  # (F, 3)
    half_width = 0.5 * np.abs(xyz[:, 4, 0] - xyz[:, 8, 0]) + 0.04
    ray_x = xyz[..., 0] / xyz[..., 2] * torso[:, None, 2]  # joint's ray, at the torso's depth
    ray_y = xyz[..., 1] / xyz[..., 2] * torso[:, None, 2]
    low = np.minimum(xyz[:, 12, 1], xyz[:, 16, 1])[:, None] - 0.05
    high = np.maximum(xyz[:, 4, 1], xyz[:, 8, 1])[:, None] + 0.03
    behind = xyz[..., 2] > torso[:, None, 2] + 0.06
    inside = (np.abs(ray_x - torso[:, None, 0]) < half_width[:, None]) & (ray_y > low) & (ray_y < high)
    return behind & inside


def tracking_states(rng: np.random.Generator, xyz: np.ndarray, episode_rate: float) -> np.ndarray:
    """(F, 25) int8 trackingState: 1 (inferred) for occluded joints and during random loss-of-tracking episodes
    of the extremities (3-15 frames, starting with probability episode_rate per frame and group), else 2."""
    frames = xyz.shape[0]
    inferred = occluded_by_torso(xyz)
    for group in FLAKY_GROUPS:
        starts = np.flatnonzero(rng.random(frames) < episode_rate)
        lengths = rng.integers(3, 16, size=starts.size)
        partial = rng.random(starts.size) < 0.5  # half the episodes spare the joint nearest the body
        for start, length, spare in zip(starts, lengths, partial):
            joints = list(group[1:]) if spare and len(group) > 2 else list(group)
            inferred[start:start + length, joints] = True
    # A hand that is inferred drags its tip and thumb with it.
    for hand, ends in ((7, (21, 22)), (11, (23, 24))):
        inferred[:, list(ends)] |= inferred[:, [hand]]
    return np.where(inferred, INFERRED, TRACKED).astype(np.int8)


def inferred_error(rng: np.random.Generator, states: np.ndarray, sigma: float = 0.03) -> np.ndarray:
    """(F, 25, 3) extra error (metres) on inferred joints: a slowly varying offset of about sigma."""
    frames = states.shape[0]
    offset = sigma * smooth_noise(rng, frames, (NUM_JOINTS, 3), 4.0)
    return offset * (states == INFERRED)[..., None]


def ghost_joints(rng: np.random.Generator, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A spurious body: (frames, 25, 3) camera-space joints spread over a wide, flat box, and (frames, 25)
    tracking states. Its x-spread is >= 0.7 m and its y-spread <= 0.53 m in every frame."""
    centre = np.array([rng.uniform(-1.4, 1.4), rng.uniform(-0.7, 0.3), rng.uniform(2.2, 4.5)])
    half = np.array([rng.uniform(0.35, 0.7), rng.uniform(0.07, 0.22), rng.uniform(0.05, 0.3)])
    shape = rng.uniform(-1.0, 1.0, size=(NUM_JOINTS, 3))
    shape[0, 0], shape[1, 0] = -1.0, 1.0  # pin the width so every frame is wide
    jitter = rng.normal(0.0, 0.01, size=(frames, NUM_JOINTS, 3))
    joints = centre + shape * half + jitter
    states = np.where(rng.random((frames, NUM_JOINTS)) < 0.6, INFERRED, TRACKED).astype(np.int8)
    return joints, states


def body_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct Kinect-style 64-bit body IDs as strings (2**56 + a counter, like 72057594037931101)."""
    first = int(rng.integers(1000, 60000))
    steps = rng.integers(1, 400, size=count).cumsum() - 1 if count else []
    return [str(KINECT_ID_BASE + first + int(s)) for s in steps]


def clipped_edges(depth_xy: np.ndarray) -> np.ndarray:
    """(F,) int32 Kinect FrameEdges bits (1 right, 2 left, 4 top, 8 bottom) from (F, 25, 2) depth pixels."""
    u, v = depth_xy[..., 0], depth_xy[..., 1]
    bits = (np.any(u >= DEPTH_SIZE[0], -1) * 1 + np.any(u < 0, -1) * 2 + np.any(v < 0, -1) * 4
            + np.any(v >= DEPTH_SIZE[1], -1) * 8)
    return bits.astype(np.int32)


def hand_fields(rng: np.random.Generator, grip: np.ndarray, states: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """(F, 4) int32: handLeftConfidence, handLeftState, handRightConfidence, handRightState.

    Kinect hand states: 0 unknown, 1 not tracked, 2 open, 3 closed, 4 lasso; confidence 0 low, 1 high. Like in
    NTU, far hands mostly read 'not tracked'; near ones follow the hand's closure (grip, (F, 2))."""
    frames = grip.shape[0]
    out = np.zeros((frames, 4), dtype=np.int32)
    for side, hand in enumerate((7, 11)):
        seen = states[:, hand] == TRACKED
        near = xyz[:, hand, 2] < 2.9
        state = np.where(grip[:, side] > 0.6, 3, np.where(grip[:, side] < 0.3, 2, 4))
        flicker = rng.random(frames) < 0.08
        state = np.where(near & ~flicker, state, 1)
        out[:, 2 * side] = seen
        out[:, 2 * side + 1] = np.where(seen, state, 0)
    return out


def lean(rng: np.random.Generator, xyz: np.ndarray) -> np.ndarray:
    """(F, 2) float32 leanX, leanY in [-1, 1] from the spine's tilt in camera space, slightly noisy."""
    spine = xyz[:, 20] - xyz[:, 0]
    spine /= np.maximum(np.linalg.norm(spine, axis=-1, keepdims=True), 1e-9)
    values = np.stack([spine[:, 0], -spine[:, 2]], axis=-1) + rng.normal(0.0, 0.01, size=(xyz.shape[0], 2))
    return np.clip(values, -1.0, 1.0).astype(np.float32)
