"""Single-person motion families: parametric generators of `Pose` trajectories.

A family is a distribution of movements, not a class: classes that differ only by a held object share one
(actions.py). Every generator takes (rng, body, frames) and nothing about the class, draws its parameters first
(timing, amplitude, tempo) and fills the pose with envelopes and oscillations around `rest_pose`.
Targets are in the trunk frame relative to the shoulder (x right, y up, z back: forward is -z).
"""
from __future__ import annotations

import numpy as np

from har.synth.body import SIDES, BodyShape
from har.synth.motion import (
    POLE_FACE,
    POLE_RAISED,
    POLE_REACH,
    Pose,
    brow_from_shoulder,
    draw_phases,
    frame_times,
    mouth_from_shoulder,
    move_arm,
    oscillation,
    pulse,
    ramp,
    rest_pose,
    sided,
    smooth_noise,
)


def hand_to_mouth(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Dominant hand raised to the mouth, small movements there, head tipping back a little (drink / brush)."""
    pose, (sec, u) = rest_pose(body, frames), frame_times(frames)
    side = body.dominant
    phases = draw_phases(rng, hold=(0.3, 0.55))
    amplitude = rng.uniform(0.004, 0.03)
    hz = rng.uniform(0.6, 3.5)
    direction = rng.standard_normal(3)
    direction /= np.linalg.norm(direction)
    tilt = rng.uniform(-0.35, 0.05)
    other = rng.uniform(0.0, 0.35)  # the other hand sometimes comes up part way (steadying)
    weight = pulse(u, phases)
    target = mouth_from_shoulder(body, side) + sided([0.03, -0.07, -0.05], side)
    wobble = amplitude * oscillation(sec, hz, rng.uniform(0, 2 * np.pi))[:, None] * direction
    move_arm(pose, side, target + wobble * ramp(u, phases[1], phases[1] + 0.05)[:, None], weight, POLE_FACE)
    chest = sided([-0.1, -0.3, -0.25], 1 - side)
    move_arm(pose, 1 - side, chest, other * weight, POLE_FACE)
    pose.head[:, 0] += tilt * weight
    pose.grip[:, side] += 0.5 * weight
    return pose


def hold_and_look_down(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Both hands in front of the chest, head bowed, small hand movements (reading / writing)."""
    pose, (_, u) = rest_pose(body, frames), frame_times(frames)
    phases = draw_phases(rng, onset=(0.02, 0.12), hold=(0.45, 0.7))
    height = rng.uniform(-0.38, -0.22)
    reach = rng.uniform(-0.32, -0.22)
    spread = rng.uniform(0.08, 0.16)
    bow = rng.uniform(0.3, 0.65)
    scribble = rng.uniform(0.005, 0.02) * smooth_noise(rng, frames, (2, 3), 2.5)
    shift_at = rng.uniform(0.35, 0.75)
    shift = rng.uniform(-0.06, 0.06, size=3)
    weight = pulse(u, phases)
    for side in (0, 1):
        target = sided([-body.shoulder_half_width + spread, height, reach], side)
        target = target + scribble[:, side] * ramp(u, phases[1], phases[1] + 0.05)[:, None]
        target = target + shift * pulse(u, (shift_at, shift_at + 0.06, shift_at + 0.1, shift_at + 0.16))[:, None]
        move_arm(pose, side, target, weight, POLE_REACH)
        pose.grip[:, side] += 0.4 * weight
    pose.head[:, 0] += bow * weight
    pose.trunk[:, 0] += 0.15 * bow * weight
    return pose


def reach_forward_up(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Dominant arm raised and extended forward-up, held, lowered (pointing / selfie)."""
    pose, (_, u) = rest_pose(body, frames), frame_times(frames)
    side = body.dominant
    phases = draw_phases(rng, rise=(0.1, 0.2), hold=(0.3, 0.5))
    elevation = rng.uniform(0.1, 0.9)
    azimuth = rng.uniform(-0.6, 0.35)  # + towards the dominant side
    extension = rng.uniform(0.8, 0.97) * body.arm
    look = rng.uniform(0.3, 0.9)
    wobble = rng.uniform(0.005, 0.02) * smooth_noise(rng, frames, (3,), 6.0)
    direction = sided([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                       -np.cos(elevation) * np.cos(azimuth)], side)
    weight = pulse(u, phases)
    move_arm(pose, side, extension * direction + wobble, weight, POLE_REACH, bulge=(0.05, 0.0, -0.1))
    pose.head[:, 1] += -SIDES[side] * azimuth * look * weight
    pose.head[:, 0] += -0.4 * elevation * look * weight
    pose.grip[:, side] += 0.4 * weight
    pose.hand_flex[:, side] -= 0.1 * weight
    return pose


def hands_front_fiddle(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Both hands close together in front of the waist, busy fingers, head bowed (phone / keyboard)."""
    pose, (sec, u) = rest_pose(body, frames), frame_times(frames)
    phases = draw_phases(rng, onset=(0.02, 0.12), hold=(0.45, 0.7))
    height = rng.uniform(-0.5, -0.36)
    reach = rng.uniform(-0.34, -0.24)
    gap = rng.uniform(0.05, 0.14)
    bow = rng.uniform(0.35, 0.7)
    finger_hz = rng.uniform(2.0, 5.0, size=2)
    finger_phase = rng.uniform(0, 2 * np.pi, size=2)
    drift = rng.uniform(0.004, 0.012) * smooth_noise(rng, frames, (2, 3), 4.0)
    weight = pulse(u, phases)
    for side in (0, 1):
        target = sided([-body.shoulder_half_width + gap, height, reach], side) + drift[:, side]
        move_arm(pose, side, target, weight, POLE_REACH)
        fingers = 0.25 * oscillation(sec, finger_hz[side], finger_phase[side])
        pose.grip[:, side] += weight * (0.15 + fingers)
        pose.hand_flex[:, side] += 0.2 * weight
    pose.head[:, 0] += bow * weight
    return pose


def clapping(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Both hands meet repeatedly in front of the chest."""
    pose, (sec, u) = rest_pose(body, frames), frame_times(frames)
    phases = draw_phases(rng, rise=(0.08, 0.16), hold=(0.45, 0.7))
    hz = rng.uniform(1.8, 4.0)
    height = rng.uniform(-0.3, -0.05)
    reach = rng.uniform(-0.4, -0.28)
    opening = rng.uniform(0.12, 0.3)
    weight = pulse(u, phases)
    separation = 0.03 + opening * 0.5 * (1 - np.cos(2 * np.pi * hz * (sec - phases[1] * sec[-1])))
    for side in (0, 1):
        x = -body.shoulder_half_width + separation / 2
        target = np.stack([SIDES[side] * x, np.full(frames, height), np.full(frames, reach)], axis=1)
        move_arm(pose, side, target, weight, POLE_FACE)
        pose.grip[:, side] -= 0.25 * weight
        pose.hand_flex[:, side] -= 0.3 * weight
    return pose


def hand_waving(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Dominant hand raised beside the head and swung from side to side."""
    pose, (sec, u) = rest_pose(body, frames), frame_times(frames)
    side = body.dominant
    phases = draw_phases(rng, rise=(0.1, 0.18), hold=(0.4, 0.65))
    hz = rng.uniform(1.3, 3.0)
    swing = rng.uniform(0.07, 0.2)
    height = rng.uniform(0.12, 0.4)
    outward = rng.uniform(0.05, 0.25)
    weight = pulse(u, phases)
    target = np.tile(sided([outward, height, -0.12], side), (frames, 1))
    target[:, 0] += swing * oscillation(sec, hz, 0.0)
    move_arm(pose, side, target, weight, POLE_RAISED, bulge=(0.1, 0.0, -0.05))
    pose.grip[:, side] -= 0.3 * weight
    pose.hand_flex[:, side] += 0.3 * oscillation(sec, hz, 0.8) * weight
    return pose


def salute(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Dominant hand brought crisply to the brow, held, dropped."""
    pose, (_, u) = rest_pose(body, frames), frame_times(frames)
    side = body.dominant
    phases = draw_phases(rng, rise=(0.06, 0.12), hold=(0.3, 0.55), fall=(0.08, 0.14))
    offset = rng.normal(0.0, 0.02, size=3)
    weight = pulse(u, phases)
    target = brow_from_shoulder(body, side) + sided([0.12, -0.06, 0.0], side) + offset
    move_arm(pose, side, target, weight, POLE_RAISED, bulge=(0.08, 0.0, -0.08))
    pose.grip[:, side] -= 0.3 * weight
    pose.hand_flex[:, side] -= 0.2 * weight
    pose.trunk[:, 0] -= 0.04 * weight
    return pose
