"""Whole-body and leg motion families: kicking, jumping, hopping, sitting down / standing up, falling.

Same contract as families.py: (rng, body, frames) -> Pose, parameters drawn first, nothing about the class.
Ankle targets are body-local (floor y = 0); the kinematic skeleton bends the knees to reach them.
"""
from __future__ import annotations

import numpy as np

from har.synth.body import SIDES, BodyShape
from har.synth.kinematics import trunk_frame, wrist_target_for
from har.synth.motion import (
    POLE_HANG,
    POLE_REACH,
    Pose,
    frame_times,
    keyframes,
    move_arm,
    pulse,
    ramp,
    rest_pose,
    sided,
)

GRAVITY = 9.81


def kicking(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """One leg swings back then kicks forward-up, once or twice; the trunk leans back, arms balance."""
    pose, (_, u) = rest_pose(body, frames), frame_times(frames)
    side = body.dominant if rng.random() < 0.8 else 1 - body.dominant
    kicks = 1 if rng.random() < 0.7 else 2
    start = rng.uniform(0.12, 0.3)
    span = rng.uniform(0.45, 0.65) / kicks  # fraction of the clip per kick
    height = rng.uniform(0.22, 0.6)
    reach = rng.uniform(0.4, 0.7)
    lean = rng.uniform(0.08, 0.25)
    rest = pose.ankle[0, side].copy()
    back = rest + np.array([0.0, 0.15, 0.25])
    peak = rest + np.array([-SIDES[side] * 0.05, height, -reach])
    knots, values = [0.0], [rest]
    for k in range(kicks):
        t0 = start + k * span
        knots += [t0, t0 + 0.3 * span, t0 + 0.45 * span, t0 + 0.55 * span, t0 + 0.9 * span]
        values += [rest, back, peak, peak, rest]
    pose.ankle[:, side] = keyframes(u, knots, values)
    active = pulse(u, (start, start + 0.25 * span, start + (kicks - 0.1) * span, start + kicks * span))
    pose.toe[:, side] -= 0.4 * active
    pose.trunk[:, 0] -= lean * active
    pose.root[:, 0] -= SIDES[side] * 0.05 * active
    for arm in (0, 1):
        move_arm(pose, arm, pose.wrist[:, arm] + sided([0.15, 0.1, -0.05], arm), 0.7 * active, POLE_HANG)
    return pose


def jump_up(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Crouch, jump straight up (ballistic flight), land in a crouch, stand; once or twice."""
    pose, (sec, _) = rest_pose(body, frames), frame_times(frames)
    jumps = 1 if rng.random() < 0.75 else 2
    crouch = rng.uniform(0.08, 0.2)
    height = rng.uniform(0.08, 0.3)
    prep = rng.uniform(0.25, 0.45)  # seconds of crouching before take-off
    start = rng.uniform(0.1, 0.3) * sec[-1]
    flight = 2 * np.sqrt(2 * height / GRAVITY)
    lift = np.zeros(frames)
    dip = np.zeros(frames)
    swing = np.zeros(frames)
    t0 = start
    for _ in range(jumps):
        take_off = t0 + prep
        land = take_off + flight
        dip += pulse(sec, (t0, take_off - 0.1, take_off - 0.1, take_off))
        dip += pulse(sec, (land, land + 0.1, land + 0.15, land + 0.35))
        tau = np.clip(sec - take_off, 0, flight)
        lift += np.where((sec > take_off) & (sec < land), height - 0.5 * GRAVITY * (tau - flight / 2) ** 2, 0.0)
        swing += pulse(sec, (take_off - 0.15, take_off - 0.02, land - 0.05, land + 0.1))
        t0 = land + 0.45
    pose.root[:, 1] += lift - crouch * dip
    pose.trunk[:, 0] += 0.35 * dip
    pose.ankle[:, :, 1] += np.maximum(lift - 0.02, 0.0)[:, None]
    pose.toe -= 0.5 * (lift > 0)[:, None]
    raise_arms = 0.8 * np.clip(swing, 0.0, 1.0)
    for arm in (0, 1):
        pose.wrist[:, arm] += sided([0.05, 0.05, 0.25], arm) * dip[:, None]
        move_arm(pose, arm, sided([0.1, 0.15, -0.35], arm), raise_arms, POLE_REACH, bulge=(0.0, 0.0, -0.05))
    return pose


def hopping(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """One leg tucked up, repeated small hops on the other."""
    pose, (sec, u) = rest_pose(body, frames), frame_times(frames)
    lifted = int(rng.integers(0, 2))
    phases = (rng.uniform(0.05, 0.2), 0.0, rng.uniform(0.7, 0.85), 0.0)
    phases = (phases[0], phases[0] + 0.1, phases[2], min(phases[2] + 0.1, 0.98))
    hz = rng.uniform(1.4, 2.5)
    hop = rng.uniform(0.04, 0.12)
    tuck = np.array([0.0, rng.uniform(0.2, 0.4), rng.uniform(0.1, 0.3)])
    balance = rng.uniform(0.05, 0.2)
    held = pulse(u, phases)
    hopping_on = pulse(u, (phases[1], phases[1] + 0.02, phases[2] - 0.02, phases[2]))
    bounce = hop * np.abs(np.sin(np.pi * hz * (sec - phases[1] * sec[-1]))) * hopping_on
    pose.ankle[:, lifted] += held[:, None] * tuck
    pose.ankle[:, lifted, 1] += bounce
    pose.ankle[:, 1 - lifted, 1] += np.maximum(bounce - 0.015, 0.0)
    pose.root[:, 1] += bounce - 0.03 * held
    pose.root[:, 0] += SIDES[1 - lifted] * 0.05 * held
    pose.trunk[:, 1] += SIDES[1 - lifted] * 0.05 * held
    for arm in (0, 1):
        move_arm(pose, arm, pose.wrist[:, arm] + sided([balance, 0.12, -0.05], arm), held, POLE_HANG)
    return pose


def sit_down(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Standing -> seated on a chair behind: lean forward, lower the hips back, settle upright, hands on thighs."""
    pose, (_, u) = rest_pose(body, frames), frame_times(frames)
    seat = rng.uniform(0.42, 0.52)
    back = rng.uniform(0.12, 0.24)
    lean = rng.uniform(0.35, 0.65)
    settle = rng.uniform(0.02, 0.2)
    start = rng.uniform(0.12, 0.35)
    duration = rng.uniform(0.3, 0.45)
    feet = rng.uniform(-0.12, 0.0)
    hands = rng.uniform(0.0, 1.0)  # how far the hands travel onto the thighs
    end = min(start + duration, 0.9)
    down = ramp(u, start, end)
    pose.root[:, 1] += down * (seat + 0.06 - body.hip_height)
    pose.root[:, 2] += down * back
    pose.trunk[:, 0] += keyframes(u, [start, 0.5 * (start + end), end, end + 0.08], [0.0, lean, settle + 0.1, settle])
    pose.ankle[:, :, 2] += ramp(u, end - 0.05, end + 0.1)[:, None] * feet
    for arm in (0, 1):
        thigh = sided([-0.06, -0.42, -0.32], arm)
        move_arm(pose, arm, thigh, hands * down, POLE_HANG, bulge=(0.05, 0.0, -0.05))
    return pose


def stand_up(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Seated -> standing: sitting down played backwards."""
    return sit_down(rng, body, frames).reversed()


def falling(rng: np.random.Generator, body: BodyShape, frames: int) -> Pose:
    """Knees buckle and the person goes down: forward onto knees and hands, or backward onto the seat."""
    pose, (sec, u) = rest_pose(body, frames), frame_times(frames)
    forward = rng.random() < 0.55
    # Late enough that the body on the floor (wider than tall from the side) stays under the 69.754 % of
    # "noisy" frames at which the standard NTU denoising would drop it.
    start = rng.uniform(0.32, 0.5)
    duration = rng.uniform(0.5, 0.9) / max(sec[-1], 1e-6)  # seconds -> clip fraction
    end = min(start + duration, 0.92)
    down = ramp(u, start, end)
    if forward:
        hips, shift, lean = rng.uniform(0.35, 0.5), rng.uniform(-0.05, 0.1), rng.uniform(1.0, 1.35)
        pose.ankle[:, :, 2] += down[:, None] * rng.uniform(0.3, 0.45)
        pose.ankle[:, :, 1] += down[:, None] * 0.02
    else:
        hips, shift, lean = rng.uniform(0.12, 0.22), rng.uniform(0.3, 0.45), -rng.uniform(0.35, 0.8)
        pose.ankle[:, :, 2] -= down[:, None] * rng.uniform(0.35, 0.55)
    pose.root[:, 1] += down * (hips - body.hip_height)
    pose.root[:, 2] += down * shift
    pose.trunk[:, 0] += lean * ramp(u, start + 0.3 * (end - start), end)
    pose.trunk[:, 1] += rng.uniform(-0.2, 0.2) * down
    brace = ramp(u, start + 0.2 * (end - start), end)
    _, _, shoulders = trunk_frame(body, pose)
    for arm in (0, 1):
        # Hands go to the floor below and ahead of (forward fall) or behind (backward) the shoulders.
        floor = shoulders[:, arm].copy()
        floor[:, 0] += SIDES[arm] * rng.uniform(0.0, 0.15)
        floor[:, 1] = 0.1
        floor[:, 2] += -0.15 if forward else 0.15
        target = wrist_target_for(body, pose, floor, arm)
        move_arm(pose, arm, target, brace, POLE_REACH if forward else POLE_HANG, bulge=(0.05, 0.05, -0.1))
    return pose
