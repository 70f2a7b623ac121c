"""Forward kinematics: a `Pose` and a `BodyShape` -> the 25 Kinect joints, plus Kinect-style joint orientations.

Joint indices are 0-based (har.layout): 0 spine base, 1 spine mid, 2 neck, 3 head, 4-7 left shoulder/elbow/
wrist/hand, 8-11 right, 12-15 left hip/knee/ankle/foot, 16-19 right, 20 spine shoulder, 21/22 left hand tip/thumb,
23/24 right hand tip/thumb.
"""
from __future__ import annotations

import numpy as np

from har.layout import NTU_PARENT, NUM_JOINTS
from har.synth.body import SIDES, BodyShape, apply_rotation, rot_x, rot_y, trunk_rotation, two_bone_ik, unit
from har.synth.motion import Pose

ARM_JOINTS = ((4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24))  # shoulder elbow wrist hand tip thumb, per side
LEG_JOINTS = ((12, 13, 14, 15), (16, 17, 18, 19))  # hip knee ankle foot, per side
# Kinect reports no orientation for end joints (1-based 4, 16, 20, 22-25): the files hold 0 0 0 0 there.
END_JOINTS = (3, 15, 19, 21, 22, 23, 24)


def trunk_frame(body: BodyShape, pose: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trunk's rotation (T, 3, 3), spine-shoulder (T, 3) and shoulder positions (T, 2, 3), body-local."""
    pitch, roll, yaw = pose.trunk.T
    rotation = trunk_rotation(pitch, roll, yaw)
    lower = trunk_rotation(0.45 * pitch, 0.45 * roll, 0.45 * yaw)
    spine_mid = pose.root + apply_rotation(lower, np.array([0.0, body.spine_low, 0.0]))
    spine_shoulder = spine_mid + apply_rotation(rotation, np.array([0.0, body.spine_high, 0.0]))
    shoulders = np.stack([spine_shoulder + apply_rotation(rotation, np.array(
        [SIDES[s] * body.shoulder_half_width, -body.shoulder_drop, 0.01])) for s in (0, 1)], axis=1)
    return rotation, spine_shoulder, shoulders


def wrist_target_for(body: BodyShape, pose: Pose, point: np.ndarray, side: int) -> np.ndarray:
    """(T, 3) wrist target (trunk frame, relative to the shoulder) that puts the wrist on a body-local point
    (T, 3) or (3,), e.g. a spot on a partner's body."""
    rotation, _, shoulders = trunk_frame(body, pose)
    offset = np.broadcast_to(point, shoulders[:, side].shape) - shoulders[:, side]
    return np.einsum("tji,tj->ti", rotation, offset)


def forward_kinematics(body: BodyShape, pose: Pose) -> np.ndarray:
    """(T, 25, 3) float64 joint positions in the body-local frame."""
    frames = pose.num_frames
    joints = np.zeros((frames, NUM_JOINTS, 3))
    rotation, spine_shoulder, shoulders = trunk_frame(body, pose)
    pitch, roll, yaw = pose.trunk.T
    joints[:, 0] = pose.root
    joints[:, 1] = pose.root + apply_rotation(trunk_rotation(0.45 * pitch, 0.45 * roll, 0.45 * yaw),
                                      np.array([0.0, body.spine_low, 0.0]))
    joints[:, 20] = spine_shoulder
    joints[:, 2] = spine_shoulder + apply_rotation(rotation, np.array([0.0, body.neck, 0.0]))
    head_rotation = rotation @ rot_y(pose.head[:, 1]) @ rot_x(-pose.head[:, 0])
    joints[:, 3] = joints[:, 2] + apply_rotation(head_rotation, np.array([0.0, body.head, -0.012]))
    for side in (0, 1):
        _arm(body, pose, side, rotation, shoulders[:, side], joints)
        _leg(body, pose, side, joints)
    return joints


def _arm(body, pose, side, rotation, shoulder, joints) -> None:
    i_sh, i_el, i_wr, i_ha, i_tip, i_th = ARM_JOINTS[side]
    target = shoulder + apply_rotation(rotation, pose.wrist[:, side])
    pole = apply_rotation(rotation, pose.elbow_pole[:, side])
    elbow, wrist = two_bone_ik(shoulder, target, pole, body.upper_arm, body.forearm)
    forearm = unit(wrist - elbow)
    bend = unit(pole - np.sum(pole * forearm, -1, keepdims=True) * forearm)
    # Palm faces the body for a hanging arm: perpendicular to the forearm and to the elbow's bend direction.
    palm = SIDES[side] * unit(np.cross(forearm, bend))
    hand_dir = unit(forearm + pose.hand_flex[:, side, None] * palm)
    hand = wrist + body.hand * hand_dir
    joints[:, i_sh], joints[:, i_el], joints[:, i_wr], joints[:, i_ha] = shoulder, elbow, wrist, hand
    joints[:, i_tip] = hand + body.hand_tip * unit(hand_dir + 1.3 * pose.grip[:, side, None] * palm)
    joints[:, i_th] = hand + body.thumb * unit(0.55 * hand_dir - 0.85 * bend + 0.3 * palm)


def _leg(body, pose, side, joints) -> None:
    i_hip, i_knee, i_ankle, i_foot = LEG_JOINTS[side]
    pitch, roll, yaw = pose.trunk.T
    pelvis = trunk_rotation(0.25 * pitch, 0.25 * roll, 0.3 * yaw)
    hip = pose.root + apply_rotation(pelvis, np.array([SIDES[side] * body.hip_half_width, -0.02, 0.0]))
    knee, ankle = two_bone_ik(hip, pose.ankle[:, side], pose.knee_pole[:, side], body.thigh, body.shin)
    toe = pose.toe[:, side]
    forward = apply_rotation(rot_y(0.3 * yaw), np.array([SIDES[side] * 0.12, 0.0, -1.0]))
    foot_dir = unit(forward * np.cos(toe)[:, None] + np.array([0.0, 1.0, 0.0]) * (np.sin(toe) - 0.35)[:, None])
    joints[:, i_hip], joints[:, i_knee], joints[:, i_ankle] = hip, knee, ankle
    joints[:, i_foot] = ankle + body.foot * foot_dir


def joint_orientations(joints: np.ndarray) -> np.ndarray:
    """(T, 25, 4) quaternions (w, x, y, z) like Kinect's: each joint's frame has +y along the bone from its
    parent, +x towards the body's right (from the shoulder line); end joints are all zero, as in NTU files.

    joints: (T, 25, 3) in any right-handed frame (the quaternions are expressed in that frame)."""
    frames = joints.shape[0]
    bone = joints - joints[:, list(NTU_PARENT)]
    bone[:, 20] = joints[:, 2] - joints[:, 20]  # the centre joint points up the neck
    bone[:, 0] = joints[:, 1] - joints[:, 0]
    y_axis = unit(bone)
    right = unit(joints[:, 8] - joints[:, 4])[:, None, :]
    x_axis = right - np.sum(right * y_axis, -1, keepdims=True) * y_axis
    x_axis = unit(np.where(np.linalg.norm(x_axis, axis=-1, keepdims=True) < 1e-6,
                            np.cross(y_axis, [0.0, 0.0, 1.0]), x_axis))
    z_axis = np.cross(x_axis, y_axis)
    quats = _matrix_to_quaternion(np.stack([x_axis, y_axis, z_axis], axis=-1))
    quats[:, list(END_JOINTS)] = 0.0
    return quats.reshape(frames, NUM_JOINTS, 4)


def _matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0."""
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = np.stack([
        np.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                  m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - trace, m[..., 0, 1] + m[..., 1, 0],
                  m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - trace,
                  m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                  1 + 2 * m[..., 2, 2] - trace], -1),
    ], axis=-2)
    # Pick the numerically safest of the four formulas (largest diagonal term) per matrix.
    diag = np.stack([trace, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)
