"""Two-person motion families: punching, hugging, handshaking.

Performance frame: the subject (actor 0) stands at z = +gap/2 facing -z, the partner (actor 1) at z = -gap/2
facing +z (yaw pi). By this symmetry each sees the other straight ahead at body-local (0, y, -gap), and a point
(x, y, z) in the partner's body-local frame is (-x, y, -z - gap) in one's own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from har.synth.body import SIDES, BodyShape
from har.synth.kinematics import wrist_target_for
from har.synth.motion import (
    POLE_FACE,
    POLE_REACH,
    Pose,
    draw_phases,
    frame_times,
    move_arm,
    oscillation,
    pulse,
    ramp,
    rest_pose,
    sided,
)


@dataclass
class Actor:
    """One person of a performance: pose in its body-local frame, placed at (x, z) with a yaw (radians)."""
    pose: Pose
    offset: tuple[float, float]
    yaw: float


def _pair(pose_a: Pose, pose_b: Pose, gap: float) -> list[Actor]:
    return [Actor(pose_a, (0.0, gap / 2), 0.0), Actor(pose_b, (0.0, -gap / 2), float(np.pi))]


def _chest_height(body: BodyShape) -> float:
    return body.hip_height + body.spine_low + 0.6 * body.spine_high


def _step(pose: Pose, distance: np.ndarray) -> None:
    """Walk forward by distance (T,) metres: body and feet slide together along -z."""
    pose.root[:, 2] -= distance
    pose.ankle[:, :, 2] -= distance[:, None]


def punching(rng: np.random.Generator, bodies: tuple[BodyShape, BodyShape], frames: int) -> list[Actor]:
    """The subject throws 1-3 fast punches at the partner's chest or face; the partner flinches back."""
    attacker, target_body = bodies
    pose_a, pose_b = rest_pose(attacker, frames), rest_pose(target_body, frames)
    sec, u = frame_times(frames)
    gap = rng.uniform(0.75, 0.95)
    side = attacker.dominant
    punches = int(rng.integers(1, 4))
    start = rng.uniform(0.12, 0.3) * sec[-1]
    period = rng.uniform(0.45, 0.7)
    aim = _chest_height(target_body) + rng.uniform(-0.05, 0.3)
    guard_level = rng.uniform(0.0, 1.0)
    flinch = rng.uniform(0.1, 0.3)
    guard = pulse(u, (0.02, start / sec[-1], 0.85, 0.97))
    hit = np.zeros(frames)
    for k in range(punches):
        t0 = start + 0.2 + k * period
        hit += pulse(sec, (t0, t0 + 0.13, t0 + 0.18, t0 + 0.38))
    hit = np.clip(hit, 0.0, 1.0)
    chin = sided([-0.12, 0.05, -0.2], side)
    for arm in (0, 1):
        move_arm(pose_a, arm, sided([-0.12, 0.05, -0.2], arm), guard, POLE_FACE, bulge=(0.0, 0.0, -0.05))
    pose_a.trunk[:, 2] += SIDES[side] * 0.3 * hit
    pose_a.trunk[:, 0] += 0.08 * hit
    target = wrist_target_for(attacker, pose_a, np.array([0.0, aim, -gap + 0.05]), side)
    strike = np.broadcast_to(chin, target.shape) + hit[:, None] * (target - chin)
    pose_a.wrist[:, side] = strike
    pose_a.grip += 0.6 * guard[:, None]
    delayed = np.concatenate([np.zeros(3), hit[:-3]]) if frames > 3 else hit
    pose_b.trunk[:, 0] -= flinch * delayed
    pose_b.root[:, 2] += 0.08 * delayed
    pose_b.head[:, 0] -= 0.25 * delayed
    for arm in (0, 1):
        move_arm(pose_b, arm, sided([-0.1, -0.05, -0.25], arm), guard_level * guard, POLE_FACE)
    return _pair(pose_a, pose_b, gap)


def hugging(rng: np.random.Generator, bodies: tuple[BodyShape, BodyShape], frames: int) -> list[Actor]:
    """Both step in and wrap their arms around each other, hold, release and step back a little."""
    poses = [rest_pose(b, frames) for b in bodies]
    _, u = frame_times(frames)
    gap = rng.uniform(0.95, 1.25)
    close = rng.uniform(0.3, 0.4)
    phases = draw_phases(rng, onset=(0.03, 0.12), rise=(0.2, 0.3), hold=(0.35, 0.5), fall=(0.12, 0.2))
    release = rng.uniform(0.3, 0.8)  # fraction of the step undone at the end
    high_side = int(rng.integers(0, 2))
    together = ramp(u, phases[0], phases[1]) * (1 - release * ramp(u, phases[2], phases[3]))
    wrap = pulse(u, (phases[0] + 0.6 * (phases[1] - phases[0]), phases[1] + 0.03, phases[2], phases[3]))
    shift = together * (gap - close) / 2  # how far each has stepped in
    for who, (pose, body) in enumerate(zip(poses, bodies)):
        _step(pose, shift)
        partner = bodies[1 - who]
        # The partner's back (their body-local z = -shift + 0.1) seen from here, less a little for the hand.
        back_z = -gap + shift - 0.1 + 0.05
        for arm in (0, 1):
            high = (arm == high_side) if who == 0 else (arm != high_side)
            height = _chest_height(partner) + (0.12 if high else -0.08)
            point = np.stack([np.full(frames, SIDES[arm] * 0.08), np.full(frames, height), back_z], axis=1)
            target = wrist_target_for(body, pose, point, arm)
            move_arm(pose, arm, target, wrap, POLE_FACE, bulge=(0.15, 0.0, -0.1))
        pose.head[:, 1] += (0.35 if who == 0 else -0.35) * wrap
        pose.trunk[:, 0] += 0.1 * wrap
    return _pair(poses[0], poses[1], gap)


def handshaking(rng: np.random.Generator, bodies: tuple[BodyShape, BodyShape], frames: int) -> list[Actor]:
    """Both extend their right hands to meet half way, pump them up and down together, let go."""
    poses = [rest_pose(b, frames) for b in bodies]
    sec, u = frame_times(frames)
    gap = rng.uniform(0.8, 1.05)
    step = rng.uniform(0.0, 0.12)
    phases = draw_phases(rng, onset=(0.05, 0.15), rise=(0.15, 0.25), hold=(0.35, 0.55), fall=(0.12, 0.2))
    pump = rng.uniform(0.015, 0.05) * oscillation(sec, rng.uniform(2.0, 3.5), 0.0)
    height = 0.5 * (bodies[0].hip_height + bodies[1].hip_height) + rng.uniform(0.05, 0.2)
    weight = pulse(u, phases)
    for pose, body in zip(poses, bodies):
        _step(pose, step * ramp(u, phases[0], phases[1]))
        # Both step in by the same amount, so the hands meet at z = -gap/2 in each one's frame; the wrist stops
        # a hand's length short of that point.
        point = np.stack([np.zeros(frames), height + pump * weight,
                          np.full(frames, -gap / 2 + body.hand + 0.02)], axis=1)
        target = wrist_target_for(body, pose, point, 1)
        move_arm(pose, 1, target, weight, POLE_REACH, bulge=(0.05, 0.0, -0.05))
        pose.grip[:, 1] += 0.5 * weight
        pose.head[:, 0] += 0.1 * weight
    return _pair(poses[0], poses[1], gap)
