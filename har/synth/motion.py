"""Pose trajectories and the building blocks motion families are written with.

A `Pose` holds, per frame, the few controls that drive the kinematic skeleton (body.py / kinematics.py): where the
spine base is, how the trunk and head are turned, where each wrist and ankle reaches for, how elbows and knees
bend and how closed each hand is. Families build one from `rest_pose` with envelopes (`ramp`, `pulse`) and
oscillations, then `add_idle` layers the small involuntary movements every real recording has.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from har.synth.body import SIDES, BodyShape

FPS = 30.0


@dataclass
class Pose:
    """Per-frame skeleton controls of one person, T frames (all float64).

    root: (T, 3) spine base in the body-local frame      trunk: (T, 3) pitch (lean forward +), roll, yaw
    head: (T, 2) pitch (nod down +), yaw (turn left +)
    wrist: (T, 2, 3) wrist targets, trunk frame, relative to each shoulder (index 0 left, 1 right)
    elbow_pole: (T, 2, 3) trunk-frame direction the elbows bend towards
    hand_flex: (T, 2) wrist flexion towards the palm      grip: (T, 2) 0 open hand .. 1 fist
    ankle: (T, 2, 3) ankle targets, body-local frame       knee_pole: (T, 2, 3) body-local knee direction
    toe: (T, 2) foot pitch (toes up +, radians)
    """
    root: np.ndarray
    trunk: np.ndarray
    head: np.ndarray
    wrist: np.ndarray
    elbow_pole: np.ndarray
    hand_flex: np.ndarray
    grip: np.ndarray
    ankle: np.ndarray
    knee_pole: np.ndarray
    toe: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.root.shape[0])

    def reversed(self) -> Pose:
        """The same movement played backwards (sitting down -> standing up)."""
        return Pose(**{name: value[::-1].copy() for name, value in vars(self).items()})


# Elbow bend directions in the trunk frame, per side (x is multiplied by the side's sign).
POLE_HANG = np.array([0.4, -0.45, 0.8])
POLE_FACE = np.array([0.7, -0.7, 0.1])
POLE_RAISED = np.array([0.9, -0.4, 0.25])
POLE_REACH = np.array([0.5, -0.8, 0.3])


def sided(vector, side: int) -> np.ndarray:
    """A right-side trunk-frame vector mirrored for side 0 (left): x flips sign."""
    v = np.array(vector, dtype=np.float64)
    v[..., 0] *= SIDES[side]
    return v


def rest_wrist(body: BodyShape, side: int) -> np.ndarray:
    """(3,) relaxed hanging wrist, relative to its shoulder."""
    return sided([0.04, -0.95 * body.arm, -0.03], side)


def rest_pose(body: BodyShape, frames: int) -> Pose:
    """A person standing relaxed, feet under the hips, arms hanging."""
    def tile(value):
        return np.tile(np.asarray(value, dtype=np.float64), (frames,) + (1,) * np.ndim(value))
    wrists = np.stack([rest_wrist(body, s) for s in (0, 1)])
    poles = np.stack([sided(POLE_HANG, s) for s in (0, 1)])
    ankles = np.stack([[SIDES[s] * (body.hip_half_width + 0.02), body.ankle_height, 0.0] for s in (0, 1)])
    knees = np.stack([[SIDES[s] * 0.15, 0.0, -1.0] for s in (0, 1)])
    return Pose(root=tile([0.0, body.hip_height, 0.0]), trunk=tile([0.0, 0.0, 0.0]), head=tile([0.0, 0.0]),
                wrist=tile(wrists), elbow_pole=tile(poles), hand_flex=tile([0.1, 0.1]), grip=tile([0.3, 0.3]),
                ankle=tile(ankles), knee_pole=tile(knees), toe=tile([0.0, 0.0]))


# --- anchors relative to a shoulder (trunk frame) -----------------------------------------------------------
def mouth_from_shoulder(body: BodyShape, side: int) -> np.ndarray:
    return np.array([-SIDES[side] * body.shoulder_half_width, body.neck + 0.35 * body.head + body.shoulder_drop,
                     -0.11])


def brow_from_shoulder(body: BodyShape, side: int) -> np.ndarray:
    return np.array([-SIDES[side] * (body.shoulder_half_width - 0.05),
                     body.neck + 1.05 * body.head + body.shoulder_drop, -0.10])


# --- time ----------------------------------------------------------------------------------------------------
def frame_times(frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, normalised 0..1) per frame."""
    index = np.arange(frames, dtype=np.float64)
    return index / FPS, index / max(frames - 1, 1)


def ramp(x: np.ndarray, start: float, end: float) -> np.ndarray:
    """Smooth 0 -> 1 between start and end (smoothstep); a step when they coincide."""
    if end <= start:
        return (x >= start).astype(np.float64)
    u = np.clip((x - start) / (end - start), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def pulse(x: np.ndarray, phases) -> np.ndarray:
    """Up over phases[0]..phases[1], held, down over phases[2]..phases[3]."""
    a, b, c, d = phases
    return ramp(x, a, b) * (1.0 - ramp(x, c, d))


def keyframes(x: np.ndarray, knots, values) -> np.ndarray:
    """(T, ...) path through values (K, ...) at increasing knots (K,), smoothstep between consecutive knots,
    held before the first and after the last."""
    values = np.asarray(values, dtype=np.float64)
    out = np.broadcast_to(values[0], x.shape + values.shape[1:]).copy()
    for k in range(len(knots) - 1):
        weight = ramp(x, knots[k], knots[k + 1]).reshape(x.shape + (1,) * (values.ndim - 1))
        out += weight * (values[k + 1] - values[k])
    return out


def draw_phases(rng: np.random.Generator, onset=(0.04, 0.18), rise=(0.12, 0.22), hold=(0.3, 0.5),
                fall=(0.12, 0.2)) -> tuple[float, float, float, float]:
    """Breakpoints (fractions of the clip) of a reach-hold-return movement, the return ending by 0.98."""
    a = rng.uniform(*onset)
    b = a + rng.uniform(*rise)
    c = b + rng.uniform(*hold)
    d = c + rng.uniform(*fall)
    scale = min(1.0, 0.98 / d)
    return a * scale, b * scale, c * scale, d * scale


def smooth_noise(rng: np.random.Generator, frames: int, dims: tuple[int, ...], sigma_frames: float) -> np.ndarray:
    """(frames, *dims) low-frequency noise of unit standard deviation (white noise, Gaussian-smoothed)."""
    pad = int(3 * sigma_frames) + 1
    white = rng.standard_normal((frames + 2 * pad,) + dims)
    smooth = gaussian_filter1d(white, sigma_frames, axis=0, mode="nearest")[pad:pad + frames]
    return smooth / max(float(np.std(smooth)), 1e-9)


def oscillation(seconds: np.ndarray, hz: float, phase: float) -> np.ndarray:
    return np.sin(2 * np.pi * hz * seconds + phase)


def move_arm(pose: Pose, side: int, target: np.ndarray, weight: np.ndarray, pole: np.ndarray,
             bulge=(0.0, 0.0, -0.12)) -> None:
    """Move one wrist (in place) from its current path towards target ((T, 3) or (3,), trunk frame relative to
    the shoulder) by weight (T,) in 0..1, bowed out by bulge mid-way so the hand passes in front of the body
    instead of through it; the elbow turns towards pole (a right-side direction, mirrored for the left)."""
    target = np.broadcast_to(target, pose.wrist[:, side].shape)
    start = pose.wrist[:, side].copy()
    pose.wrist[:, side] = start + weight[:, None] * (target - start) + (
        np.sin(np.pi * weight)[:, None] * sided(bulge, side))
    pose.elbow_pole[:, side] += weight[:, None] * (sided(pole, side) - pose.elbow_pole[:, side])


def add_idle(pose: Pose, rng: np.random.Generator, amount: float = 1.0) -> None:
    """Layer involuntary sway, head movements and arm drift onto a pose (in place). Consumes the generator the
    same way whatever the pose, so families that share a motion distribution stay identical."""
    frames = pose.num_frames
    pose.trunk[:, :2] += 0.015 * amount * smooth_noise(rng, frames, (2,), 12.0)
    pose.head += 0.05 * amount * smooth_noise(rng, frames, (2,), 10.0)
    pose.root[:, [0, 2]] += 0.008 * amount * smooth_noise(rng, frames, (2,), 15.0)
    pose.wrist += 0.012 * amount * smooth_noise(rng, frames, (2, 3), 8.0)
    pose.grip += 0.05 * amount * smooth_noise(rng, frames, (2,), 6.0)
    np.clip(pose.grip, 0.0, 1.0, out=pose.grip)
