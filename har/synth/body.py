"""Subject proportions and the 25-joint Kinect v2 kinematic skeleton (forward kinematics with two-bone IK).

Body-local frame (metres): x = the person's right, y = up, z = the person's back (they face -z); the floor is
y = 0. A person facing a Kinect at yaw 0 has this frame aligned with Kinect camera space (x to the sensor's left,
y up, z away from the sensor), so the person's right shoulder has the larger camera x, as in real NTU files.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDES = (-1.0, 1.0)  # index 0 = left (towards -x), index 1 = right (+x)
ANKLE_HEIGHT = 0.08  # ankle joint above the floor when standing


@dataclass(frozen=True)
class BodyShape:
    """One subject's segment lengths (metres) and limb thickness (render radii scale)."""
    height: float
    ankle_height: float
    shin: float
    thigh: float
    hip_half_width: float
    spine_low: float  # spine base -> spine mid
    spine_high: float  # spine mid -> spine shoulder
    neck: float  # spine shoulder -> neck
    head: float  # neck -> head joint
    shoulder_half_width: float
    shoulder_drop: float
    upper_arm: float
    forearm: float
    hand: float  # wrist -> hand joint
    hand_tip: float  # hand -> hand tip
    thumb: float
    foot: float  # ankle -> foot joint
    build: float  # limb thickness factor for the renderer
    dominant: int  # index into SIDES of the dominant hand (1 = right-handed)
    tempo: float  # habitual pace: shifts the subject's clip lengths (fraction of the frame range, + = slower)

    @property
    def hip_height(self) -> float:
        """Spine base height when standing straight."""
        return self.ankle_height + 0.985 * (self.shin + self.thigh) + 0.01

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm


def sample_body(rng: np.random.Generator) -> BodyShape:
    """Random adult proportions (height 1.55-1.90 m, segment ratios varied by ~4 %, shoulders by ~7 %), 12 %
    left-handed, and a habitual pace."""
    height = float(rng.uniform(1.55, 1.90))
    ratios = dict(shin=0.240, thigh=0.232, hip_half_width=0.046, spine_low=0.150, spine_high=0.118, neck=0.040,
                  head=0.068, shoulder_half_width=0.104, shoulder_drop=0.014, upper_arm=0.168, forearm=0.142,
                  hand=0.040, hand_tip=0.048, thumb=0.030, foot=0.058)
    jitter = rng.lognormal(0.0, 0.04, size=len(ratios))
    lengths = {name: height * ratio * float(j) for (name, ratio), j in zip(ratios.items(), jitter)}
    lengths["shoulder_half_width"] *= float(rng.lognormal(0.0, 0.06))
    build = float(rng.uniform(0.85, 1.2))
    dominant = 0 if rng.random() < 0.12 else 1
    tempo = float(rng.normal(0.0, 0.1))
    return BodyShape(height=height, ankle_height=ANKLE_HEIGHT, build=build, dominant=dominant, tempo=tempo,
                     **lengths)


# --- rotations -----------------------------------------------------------------------------------------------
def rot_x(a: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations about +x by angle(s) a (radians)."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def trunk_rotation(pitch, roll, yaw) -> np.ndarray:
    """(T, 3, 3): yaw (turn left +), then forward lean (pitch +, up tilts to -z), then lean right (roll +)."""
    return rot_y(yaw) @ rot_x(-np.asarray(pitch)) @ rot_z(-np.asarray(roll))


def apply_rotation(rotation: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """rotation (T, 3, 3) applied to vectors (T, 3) or a constant (3,)."""
    vectors = np.broadcast_to(vectors, rotation.shape[:-1])
    return np.einsum("tij,tj->ti", rotation, vectors)


def unit(v: np.ndarray) -> np.ndarray:
    """v scaled to unit length along its last axis (zero vectors stay ~zero)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


# --- inverse kinematics --------------------------------------------------------------------------------------
def two_bone_ik(root: np.ndarray, target: np.ndarray, pole: np.ndarray, upper: float, lower: float):
    """Middle and end joints of a two-segment limb reaching for target, bending towards pole.

    root, target, pole: (T, 3); pole is a direction. A target out of reach is pulled onto the reachable shell.
    Returns (middle, end), each (T, 3).
    """
    offset = target - root
    dist = np.linalg.norm(offset, axis=-1, keepdims=True)
    direction = offset / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(upper - lower) + 1e-3, (upper + lower) * 0.999)
    cos_a = (upper ** 2 + dist ** 2 - lower ** 2) / (2 * upper * dist)
    sin_a = np.sqrt(np.clip(1 - cos_a ** 2, 0, 1))
    bend = pole - np.sum(pole * direction, -1, keepdims=True) * direction
    # A pole parallel to the limb gives no bend direction: fall back to any perpendicular.
    fallback = np.cross(direction, np.array([1.0, 0.0, 0.0]))
    bend = np.where(np.linalg.norm(bend, axis=-1, keepdims=True) < 1e-6, fallback, bend)
    bend = unit(bend)
    middle = root + upper * (cos_a * direction + sin_a * bend)
    return middle, root + dist * direction
