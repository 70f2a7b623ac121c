"""ST-ROI geometry (har.transforms.stroi): ROI side scaling, joint centres with nearest-frame filling, cell slots
and placement; a painted-marker image shows each cell is centred on its joint."""
from __future__ import annotations

import numpy as np
import pytest

from har.layout import STROI_PARTS
from har.transforms.box import crop_and_resize
from har.transforms.crop import PartError
from har.transforms.stroi import cell_slots, cell_window, present_persons, roi_boxes, roi_centres, roi_side

JOINTS = [j for _, j in STROI_PARTS]
NAMES = [n for n, _ in STROI_PARTS]
MARKER_COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]], np.uint8)


def _keypoints(persons: int = 1, frames: int = 10) -> np.ndarray:
    """(M, F, 25, 2): joint v of person m at x = 40 + 30 v + 400 m, y = 50 + 5 f (moves down over time)."""
    kp = np.zeros((persons, frames, 25, 2), np.float32)
    kp[..., 0] = 40 + 30 * np.arange(25) + 400 * np.arange(persons)[:, None, None]
    kp[..., 1] = 50 + 5 * np.arange(frames)[None, :, None]
    return kp


def test_roi_side_scales_with_the_video_height():
    assert roi_side(96, 1080) == 96.0
    assert roi_side(96, 270) == 24.0
    assert roi_side(96, 540, reference_height=540) == 96.0
    with pytest.raises(ValueError):
        roi_side(96, 0)


def test_centres_follow_the_joints_and_fill_missing_frames_from_the_nearest():
    kp = _keypoints()
    kp[0, 3:6, JOINTS[1]] = np.nan  # left hand lost on frames 3..5
    centres = roi_centres(kp, JOINTS, np.array([0, 4, 5, 9]), NAMES)
    assert centres.shape == (1, 5, 4, 2)
    np.testing.assert_allclose(centres[0, 0, :, 1], [50, 70, 75, 95])  # the head is always tracked
    np.testing.assert_allclose(centres[0, 1, :, 1], [50, 60, 80, 95])  # frame 4 -> 2 (tie: earlier), 5 -> 6


def test_a_part_joint_never_tracked_is_an_error_naming_the_part():
    kp = _keypoints()
    kp[0, :, JOINTS[4]] = np.nan
    with pytest.raises(PartError, match="right_foot"):
        roi_centres(kp, JOINTS, np.array([0, 5]), NAMES)


def test_an_absent_second_actor_is_left_out():
    kp = _keypoints(persons=2)
    kp[1] = np.nan
    assert present_persons(kp) == [0]
    assert roi_centres(kp, JOINTS, np.array([0, 9]), NAMES).shape == (1, 5, 2, 2)


def test_roi_boxes_are_squares_centred_on_the_joint():
    boxes = roi_boxes(np.array([[100.0, 60.0]]), 24.0)
    np.testing.assert_allclose(boxes, [[88, 48, 112, 72]])


def test_cell_slots_share_the_cell_between_two_persons():
    assert cell_slots(1, 32) == [(0, 32)]
    assert cell_slots(2, 32) == [(0, 16), (16, 16)]
    with pytest.raises(ValueError):
        cell_slots(2, 31)
    with pytest.raises(ValueError):
        cell_slots(3, 32)


def test_cell_window_is_the_part_row_and_the_persons_half_of_the_column():
    assert cell_window(2, 3, 0, 1, 16) == (slice(32, 48), slice(48, 64))
    assert cell_window(2, 3, 1, 2, 16) == (slice(32, 48), slice(56, 64))
    assert cell_window(0, 0, 0, 2, 16) == (slice(0, 16), slice(0, 8))


def test_cells_built_from_a_painted_frame_are_centred_on_their_joints():
    """A frame with a coloured 5x5 marker at each part joint: every cell's centre shows its own marker."""
    kp = _keypoints()
    frame = np.full((400, 900, 3), 90, np.uint8)
    y = int(kp[0, 0, 0, 1])
    for colour, joint in zip(MARKER_COLOURS, JOINTS):
        x = int(kp[0, 0, joint, 0])
        frame[y - 2:y + 3, x - 2:x + 3] = colour
    boxes = roi_boxes(roi_centres(kp, JOINTS, np.array([0]), NAMES), side=24.0)
    mosaic = np.zeros((5 * 16, 16, 3), np.uint8)
    for part, box in enumerate(boxes[0, :, 0]):
        mosaic[cell_window(part, 0, 0, 1, 16)] = crop_and_resize(frame, box, (16, 16))
    for k, colour in enumerate(MARKER_COLOURS):
        band = mosaic[16 * k:16 * (k + 1)].astype(int)
        np.testing.assert_array_equal(band[8, 8], colour)  # centre: the part's own marker
        assert np.abs(band[0, 0] - 90).max() <= 1  # corner: background, not a neighbour's marker
