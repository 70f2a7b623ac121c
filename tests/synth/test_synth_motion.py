"""Kinematics, motion families, camera geometry and configuration of the synthetic generator."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from har.config import ConfigError, from_mapping, to_mapping
from har.io.names import SampleName
from har.layout import NTU_EDGES
from har.synth import ACTION_CLASSES, APPEARANCE_PAIRS, DEFAULT_ACTIONS, SynthConfig, action_class
from har.synth.body import sample_body, two_bone_ik
from har.synth.camera import facing_yaw, look_at, project_depth
from har.synth.kinematics import END_JOINTS, forward_kinematics, joint_orientations
from har.synth.motion import rest_pose
from har.synth.performance import FAMILIES, simulate_performance
from har.synth.sample import people, sample_streams, scene_camera, skeleton_recording

# Real bones (fixed length); the graph's tip-thumb edges are not bones.
BONES = [(a, b) for a, b in NTU_EDGES if (a, b) not in ((21, 22), (23, 24))]


def bodies(seed=0):
    rng = np.random.default_rng(seed)
    return sample_body(rng), sample_body(rng)


def test_two_bone_ik_reaches_reachable_targets_and_keeps_lengths():
    rng = np.random.default_rng(1)
    root = np.zeros((50, 3))
    target = rng.normal(size=(50, 3))
    target *= (rng.uniform(0.1, 0.5, size=50) / np.linalg.norm(target, axis=1))[:, None]
    middle, end = two_bone_ik(root, target, np.tile([0.0, 0.0, 1.0], (50, 1)), 0.3, 0.25)
    np.testing.assert_allclose(end, target, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(middle - root, axis=1), 0.3)
    np.testing.assert_allclose(np.linalg.norm(end - middle, axis=1), 0.25)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_families_move_a_rigid_body_that_stays_on_its_feet(name):
    """Every family: finite joints, constant bone lengths, nobody sinks into the floor, the same generator
    state gives the same take, and something actually moves."""
    subject, partner = bodies()
    take = simulate_performance(name, (subject, partner), 60, facing_yaw(1), np.random.default_rng(3))
    again = simulate_performance(name, (subject, partner), 60, facing_yaw(1), np.random.default_rng(3))
    np.testing.assert_array_equal(take.joints, again.joints)
    assert take.joints.shape == (FAMILIES[name].persons, 60, 25, 3) and np.isfinite(take.joints).all()
    lengths = np.stack([np.linalg.norm(take.joints[..., a, :] - take.joints[..., b, :], axis=-1) for a, b in BONES])
    assert lengths.std(axis=-1).max() < 1e-6
    assert take.joints[..., 1].min() > -0.02
    assert np.abs(np.diff(take.joints, axis=1)).sum(axis=(1, 3)).max() > 0.05


def test_rest_pose_stands_upright_with_kinect_like_proportions():
    body, _ = bodies(4)
    joints = forward_kinematics(body, rest_pose(body, 2))[0]
    assert joints[3, 1] > joints[20, 1] > joints[1, 1] > joints[0, 1] > joints[13, 1] > joints[14, 1]
    assert joints[8, 0] > joints[4, 0]  # right shoulder on the +x side of the body-local frame
    assert 0.0 < joints[15, 1] < 0.1 and 0.0 < joints[19, 1] < 0.1  # feet on the floor
    assert 0.8 * body.height < joints[3, 1] + 0.1 < 1.05 * body.height


def test_orientations_are_unit_quaternions_except_end_joints():
    body, _ = bodies(5)
    joints = forward_kinematics(body, rest_pose(body, 3))
    quats = joint_orientations(joints)
    assert quats.shape == (3, 25, 4)
    assert np.all(quats[:, list(END_JOINTS)] == 0)
    others = np.delete(quats, END_JOINTS, axis=1)
    np.testing.assert_allclose(np.linalg.norm(others, axis=-1), 1.0, atol=1e-9)
    assert np.all(others[..., 0] >= 0)


def test_facing_the_camera_puts_the_right_shoulder_at_larger_camera_x():
    """As in real NTU files: a person facing a Kinect has its right shoulder at the larger camera-space x, and
    colour / depth pixels increase with x."""
    body, _ = bodies(6)
    take = simulate_performance("clapping", (body,), 2, facing_yaw(1), np.random.default_rng(0))
    camera = look_at(np.array([3 * np.sin(np.pi / 4), 1.1, 3 * np.cos(np.pi / 4)]), np.array([0, 0.9, 0]), 480, 270)
    xyz = camera.to_camera(take.joints[0, 0])
    assert xyz[8, 0] > xyz[4, 0] and xyz[3, 1] > xyz[0, 1] and 2.0 < xyz[0, 2] < 4.0
    colour, depth = camera.project_color(xyz), project_depth(xyz)
    assert colour[8, 0] > colour[4, 0] and colour[3, 1] < colour[0, 1]
    assert depth[8, 0] > depth[4, 0] and np.all((depth >= 0) & (depth < [512, 424]))


def test_catalogue_uses_real_ntu60_ids_and_pairs_share_families():
    assert all(1 <= c.action <= 60 for c in ACTION_CLASSES)
    assert len(DEFAULT_ACTIONS) == 16 and sum(action_class(a).two_person for a in DEFAULT_ACTIONS) >= 2
    assert len(APPEARANCE_PAIRS) >= 3
    for a, b in APPEARANCE_PAIRS:
        assert action_class(a).family == action_class(b).family and action_class(a).prop != action_class(b).prop
    paired = {a for pair in APPEARANCE_PAIRS for a in pair}
    solo = [c.family for c in ACTION_CLASSES if c.action not in paired]
    assert len(solo) == len(set(solo)), "classes outside the pairs must be separable by motion"
    assert all(c.family in FAMILIES for c in ACTION_CLASSES)
    assert sum(p[0] in DEFAULT_ACTIONS and p[1] in DEFAULT_ACTIONS for p in APPEARANCE_PAIRS) >= 3


def test_config_defaults_validation_and_params_round_trip():
    default = SynthConfig()
    assert default.num_samples == 960 and (default.width, default.height) == (480, 270)
    assert SynthConfig.tiny().num_samples == 24
    assert from_mapping(SynthConfig, to_mapping(default), "params.yaml:synth") == default
    for bad in ({"cameras": [4]}, {"actions": [61]}, {"min_frames": 12}, {"width": 481},
                {"num_replications": 3}, {"ghost_probability": 1.5}):
        with pytest.raises((ValueError, ConfigError)):
            from_mapping(SynthConfig, bad, "params.yaml:synth")
    with pytest.raises(ConfigError, match="unknown key"):
        from_mapping(SynthConfig, {"num_subject": 3}, "params.yaml:synth")
    assert dataclasses.replace(default, num_setups=2).num_samples == 1920


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_standard_ntu_denoising_keeps_every_performer(name):
    """x-spread > 0.8 y-spread marks a frame noisy; a body noisy in >= 69.754 % of its frames would be dropped
    by the standard NTU preprocessing. Lying on the floor is wide, so falls must stay under that share."""
    config = SynthConfig()
    action = next(c.action for c in ACTION_CLASSES if c.family == name)
    for subject in (1, 2, 3):
        for camera in (1, 2, 3):
            sample = SampleName(1, camera, subject, 1 + subject % 2, action)
            streams = sample_streams(subject, sample)
            persons = people(streams)[:FAMILIES[name].persons]
            camera_model = scene_camera(0, 1, camera, 480, 270)
            recording = skeleton_recording(name, tuple(p.body for p in persons), camera_model, sample.replication,
                                           streams, config)
            for track in recording.tracks[:len(persons)]:
                spread = track.xyz.max(axis=1) - track.xyz.min(axis=1)
                assert track.num_frames > 11
                assert np.mean(spread[:, 0] > 0.8 * spread[:, 1]) < 0.6, f"{sample}: performer too often wide"
