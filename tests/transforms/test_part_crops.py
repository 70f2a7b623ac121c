"""Part crop boxes (har.transforms.crop): nearest-frame filling, hand and body boxes, and on the real NTU sample
that the hand boxes sit on the hands and cut non-uniform pixels out of the real video."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from har.io.ntu_skeleton import read_skeleton
from har.io.video import open_video
from har.layout import CROP_PARTS, LEFT_HAND_JOINTS, RIGHT_HAND_JOINTS
from har.transforms.box import crop_and_resize, person_box
from har.transforms.crop import PartError, body_boxes, body_heights, hand_boxes, nearest_valid_index, part_boxes

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ntu-samples"  # real NTU files shipped with the tests
REAL = "S001C001P001R001A001"


def _standing_figure(frames: int = 6) -> np.ndarray:
    """(F, 25, 2) joints of a 200-pixel-tall figure drifting right by 10 px a frame."""
    rng = np.random.default_rng(0)
    base = np.column_stack([rng.uniform(-40, 40, 25), rng.uniform(0, 200, 25)])
    base[3, 1], base[19, 1] = 0.0, 200.0  # head at the top, a foot at the bottom: height exactly 200
    return np.stack([base + (100 + 10 * f, 50) for f in range(frames)]).astype(np.float32)


def test_nearest_valid_index_prefers_the_earlier_frame_on_ties():
    valid = np.array([0, 0, 1, 0, 0, 0, 1, 0], bool)
    assert nearest_valid_index(valid).tolist() == [2, 2, 2, 2, 2, 6, 6, 6]
    assert nearest_valid_index(np.ones(3, bool)).tolist() == [0, 1, 2]
    with pytest.raises(PartError):
        nearest_valid_index(np.zeros(4, bool))


def test_nearest_valid_index_works_track_by_track():
    valid = np.array([[[0, 1, 0, 0, 1]], [[1, 0, 0, 0, 0]]], bool)  # (2, 1, F)
    expected = np.stack([[nearest_valid_index(track[0])] for track in valid])
    np.testing.assert_array_equal(nearest_valid_index(valid), expected)
    assert nearest_valid_index(valid)[:, 0].tolist() == [[1, 1, 1, 4, 4], [0, 0, 0, 0, 0]]
    with pytest.raises(PartError):
        nearest_valid_index(np.array([[1, 0], [0, 0]], bool))  # the second track is never valid


def test_body_height_needs_two_valid_joints():
    kp = _standing_figure(3)
    kp[1] = np.nan
    kp[2, 1:] = np.nan
    heights = body_heights(kp)
    assert heights[0] == pytest.approx(200.0)
    assert np.isnan(heights[1]) and np.isnan(heights[2])


def test_hand_box_is_a_square_around_the_hand_scaled_by_the_body_height():
    kp = _standing_figure()
    boxes = hand_boxes(kp, LEFT_HAND_JOINTS, hand_scale=0.3, positions=np.arange(6))
    centre = kp[:, list(LEFT_HAND_JOINTS)].mean(axis=1)
    np.testing.assert_allclose((boxes[:, :2] + boxes[:, 2:]) / 2, centre, atol=1e-4)
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], 60.0, atol=1e-4)
    np.testing.assert_allclose(boxes[:, 3] - boxes[:, 1], 60.0, atol=1e-4)


def test_frames_without_the_hand_reuse_the_nearest_valid_frame():
    kp = _standing_figure()
    kp[2:5, list(RIGHT_HAND_JOINTS)] = np.nan  # hand lost on frames 2, 3, 4
    boxes = hand_boxes(kp, RIGHT_HAND_JOINTS, 0.3, np.arange(6))
    np.testing.assert_array_equal(boxes[2], boxes[1])
    np.testing.assert_array_equal(boxes[3], boxes[1])  # tie between 1 and 5: the earlier frame
    np.testing.assert_array_equal(boxes[4], boxes[5])
    assert not np.array_equal(boxes[1], boxes[5])  # the figure moves: the boxes really differ


def test_a_single_missing_hand_joint_moves_the_centre_to_the_others():
    kp = _standing_figure(1)
    kp[0, LEFT_HAND_JOINTS[0]] = np.nan
    box = hand_boxes(kp, LEFT_HAND_JOINTS, 0.3, np.array([0]))[0]
    expected = kp[0, list(LEFT_HAND_JOINTS[1:])].mean(axis=0)
    np.testing.assert_allclose([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], expected, atol=1e-4)


def test_body_box_is_padded_and_square():
    kp = _standing_figure(1)
    box = body_boxes(kp, body_padding=0.2, positions=np.array([0]))[0]
    assert box[2] - box[0] == pytest.approx(box[3] - box[1])
    assert box[3] - box[1] == pytest.approx(240.0)
    assert box[0] < np.nanmin(kp[0, :, 0]) and box[2] > np.nanmax(kp[0, :, 0])


def test_body_boxes_match_person_box_frame_by_frame():
    rng = np.random.default_rng(3)
    kp = rng.uniform(0, 500, (12, 25, 2))
    kp[rng.random((12, 25)) < 0.3] = np.nan
    kp[4] = np.nan
    kp[4, :2] = [[100.0, 80.0], [130.0, 300.0]]  # two joints: still a body
    boxes = body_boxes(kp, 0.2, np.arange(12))
    for f in range(12):
        np.testing.assert_allclose(boxes[f], person_box(kp[f], padding=0.2, hw_ratio=1.0), rtol=1e-12)


def test_a_hand_never_tracked_names_the_part():
    kp = _standing_figure()
    kp[:, list(LEFT_HAND_JOINTS)] = np.nan
    with pytest.raises(PartError, match="left_hand"):
        part_boxes(kp, CROP_PARTS, 0.3, 0.2, np.arange(3))
    assert part_boxes(_standing_figure(), CROP_PARTS, 0.3, 0.2, np.arange(3)).shape == (3, 3, 4)


def _real_hand_boxes():
    body = read_skeleton(SAMPLES / f"{REAL}.skeleton").tracks[0]
    keypoints = np.where((body.tracking > 0)[..., None], body.color_xy, np.nan).astype(np.float32)
    positions = np.arange(0, len(keypoints), 10)
    return body, keypoints, positions, part_boxes(keypoints, CROP_PARTS, 0.3, 0.2, positions)


def test_real_sample_hand_joints_map_inside_their_crop_near_its_centre():
    _, keypoints, positions, boxes = _real_hand_boxes()
    for p, (name, joints) in enumerate(CROP_PARTS[:2]):
        hand = keypoints[positions][:, list(joints)]  # (T, 4, 2)
        side = boxes[p, :, 2] - boxes[p, :, 0]
        centre = (boxes[p, :, :2] + boxes[p, :, 2:]) / 2
        offset = np.abs(hand - centre[:, None]) / side[:, None, None]  # 0 = centre, 0.5 = the crop's edge
        assert np.nanmax(offset) < 0.35, name
        assert np.all(side > 100) and np.all(side < 400), name  # 0.3 x a ~700-pixel tall person in 1080p


def test_real_video_hand_crops_are_not_uniform_and_differ_from_the_body_crop():
    body, _, positions, boxes = _real_hand_boxes()
    frame_numbers = body.frames[positions[:2]]
    with open_video(SAMPLES / f"{REAL}_rgb.avi", expected_frames=103) as video:
        frames = dict(video.selected(frame_numbers))
    for t, number in enumerate(frame_numbers):
        crops = [crop_and_resize(frames[int(number)], box, (32, 32)) for box in boxes[:, t]]
        for crop in crops:
            assert crop.std() > 10  # texture: skin, shirt, cup, wall — not a flat or black patch
        assert np.abs(crops[0].astype(int) - crops[2].astype(int)).mean() > 10
