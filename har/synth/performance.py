"""A performance: one take of a motion family by one or two people, as clean 3D joints in the world frame.

NTU films each take with three Kinects at once, so a performance depends on (setup, subject, replication,
action) only; each camera then records it (skeleton.py). The functions here receive a motion family name,
never a class: classes sharing a family get the same distribution and, from the same generator state,
bit-identical performances.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from har.synth import families, families_legs, interactions
from har.synth.body import BodyShape, rot_y
from har.synth.interactions import Actor
from har.synth.kinematics import forward_kinematics
from har.synth.motion import add_idle


@dataclass(frozen=True)
class Family:
    generate: Callable  # (rng, body or (body, partner), frames) -> Pose or list[Actor]
    persons: int
    duration: float  # typical clip length as a fraction of the configured [min_frames, max_frames] range


FAMILIES: dict[str, Family] = {
    "hand_to_mouth": Family(families.hand_to_mouth, 1, 0.5),
    "hold_and_look_down": Family(families.hold_and_look_down, 1, 0.7),
    "reach_forward_up": Family(families.reach_forward_up, 1, 0.45),
    "hands_front_fiddle": Family(families.hands_front_fiddle, 1, 0.7),
    "clapping": Family(families.clapping, 1, 0.45),
    "hand_waving": Family(families.hand_waving, 1, 0.45),
    "salute": Family(families.salute, 1, 0.3),
    "kicking": Family(families_legs.kicking, 1, 0.35),
    "jump_up": Family(families_legs.jump_up, 1, 0.35),
    "hopping": Family(families_legs.hopping, 1, 0.5),
    "sit_down": Family(families_legs.sit_down, 1, 0.5),
    "stand_up": Family(families_legs.stand_up, 1, 0.5),
    "falling": Family(families_legs.falling, 1, 0.5),
    "punching": Family(interactions.punching, 2, 0.35),
    "hugging": Family(interactions.hugging, 2, 0.7),
    "handshaking": Family(interactions.handshaking, 2, 0.55),
}


@dataclass(frozen=True)
class Performance:
    """joints: (A, F, 25, 3) float64 world-frame joints of A actors; grip: (A, F, 2) hand closure (0..1)."""
    joints: np.ndarray
    grip: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[1])


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown motion family {name!r} (known: {', '.join(sorted(FAMILIES))})")
    return FAMILIES[name]


def clip_length(rng: np.random.Generator, family_name: str, body: BodyShape, min_frames: int,
                max_frames: int) -> int:
    """Frames of one take: the family's typical length, shifted by the subject's pace and varied per take,
    within [min_frames, max_frames]."""
    fraction = float(np.clip(family(family_name).duration + body.tempo + rng.normal(0.0, 0.18), 0.0, 1.0))
    return int(round(min_frames + fraction * (max_frames - min_frames)))


def simulate_performance(family_name: str, bodies: tuple[BodyShape, ...], frames: int, facing: float,
                         rng: np.random.Generator) -> Performance:
    """Clean world joints of one take, the group turned to world yaw `facing` (radians, see camera.facing_yaw).

    bodies: the subject first, then the partner for two-person families (extra bodies are ignored).
    """
    spec = family(family_name)
    if len(bodies) < spec.persons:
        raise ValueError(f"family {family_name!r} needs {spec.persons} bodies, got {len(bodies)}")
    if spec.persons == 1:
        actors = [Actor(spec.generate(rng, bodies[0], frames), (0.0, 0.0), 0.0)]
        group_turn = 0.0
    else:
        actors = spec.generate(rng, tuple(bodies[:2]), frames)
        group_turn = float(rng.choice([-0.5, 0.5])) * np.pi  # the pair stands side-on to the faced camera
    yaw = facing + group_turn + rng.uniform(-0.25, 0.25)
    shift = np.array([rng.uniform(-0.2, 0.2), 0.0, rng.uniform(-0.2, 0.2)])
    joints, grips = [], []
    for actor, body in zip(actors, bodies):
        add_idle(actor.pose, rng)
        local = forward_kinematics(body, actor.pose)
        offset = np.array([actor.offset[0], 0.0, actor.offset[1]])
        group = local @ rot_y(actor.yaw).T + offset
        joints.append(group @ rot_y(yaw).T + shift)
        grips.append(actor.pose.grip)
    return Performance(np.stack(joints), np.stack(grips))
