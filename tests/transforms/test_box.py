"""Person box (PoseCompact semantics), crop/resize geometry and keypoint mapping."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from har.transforms.box import (
    crop_and_resize,
    cut_frame,
    keypoints_to_box_frame,
    person_box,
    plan_crops,
    reduction_levels,
)


def test_box_pads_about_centre_and_squares():
    kp = np.zeros((2, 3, 4, 2), np.float32)  # zeros = padding
    kp[0, 0, :2] = [(100, 200), (140, 300)]  # tight box x 100..140, y 200..300 (spans a second person, too)
    kp[1, 2, 0] = (120, 250)
    kp[0, 1, 3] = (np.nan, 900)  # missing
    x0, y0, x1, y1 = person_box(kp)
    # Height 100 -> 125 about centre y 250; width 40 -> 50, then grown to 125 (square) about centre x 120.
    assert (x0, y0, x1, y1) == pytest.approx((57.5, 187.5, 182.5, 312.5))
    assert person_box(kp, padding=0.0, hw_ratio=None) == pytest.approx((100, 200, 140, 300))
    assert person_box(kp, padding=0.5, hw_ratio=2.0) == pytest.approx((82.5, 175, 157.5, 325))


def test_box_min_size_and_outside_image():
    kp = np.array([[[[5.0, 7.0], [0.0, 0.0]]]])  # one valid joint
    assert person_box(kp, min_size=10) == pytest.approx((0.0, 2.0, 10.0, 12.0))
    kp = np.array([[[[-50.0, 10.0], [30.0, 1200.0]]]])  # beyond the image: not clipped
    x0, y0, x1, y1 = person_box(kp)
    assert x0 < -50 and y1 > 1200 and x1 - x0 == pytest.approx(y1 - y0)


@pytest.mark.parametrize("kp, message", [
    (np.zeros((1, 2, 3, 2)), "no valid joint"),
    (np.full((1, 1, 2, 2), np.nan), "no valid joint"),
    (np.array([[[[np.inf, 1.0]]]]), "infinite"),
    (np.zeros((3, 3)), "\\(\\.\\.\\., 2\\)"),
    (np.zeros((2, 3)), "\\(\\.\\.\\., 2\\)"),
])
def test_box_bad_input(kp, message):
    with pytest.raises(ValueError, match=message):
        person_box(kp)


def test_keypoints_map_into_crop_and_missing_stay_missing():
    kp = np.array([[10.0, 20.0], [0.0, 0.0], [np.nan, 5.0], [0.0, 30.0], [50.0, 120.0]])
    out = keypoints_to_box_frame(kp, (10.0, 20.0, 50.0, 120.0), (50, 20))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[[0, 3, 4]], [[0, 0], [-5, 5], [20, 50]])
    np.testing.assert_array_equal(out[1], [0, 0])
    assert np.isnan(out[2, 0]) and out[2, 1] == 5
    with pytest.raises(ValueError, match="x1 > x0"):
        keypoints_to_box_frame(kp, (10, 20, 10, 30), (8, 8))


def _blob_image(centre, radius=12, size=(1080, 1920)):
    image = np.zeros(size + (3,), np.uint8)
    cv2.circle(image, centre, radius, (255, 200, 100), -1)
    return image


@pytest.mark.parametrize("box, out_size", [
    ((500.3, 300.7, 1100.3, 900.7), (64, 64)),   # shrink 9.4x
    ((520.9, 310.2, 1250.3, 870.1), (56, 48)),   # unequal factors
    ((-300.5, -200.2, 900.0, 1000.0), (64, 64)),  # leaves the image
    ((660.5, 360.5, 740.5, 440.5), (64, 64)),    # shrink 1.25x: single warp
])
@pytest.mark.parametrize("antialias", [True, False])
def test_crop_shows_keypoints_where_they_map(box, out_size, antialias):
    image = _blob_image((700, 400))
    crop = crop_and_resize(image, box, out_size, antialias=antialias)
    assert crop.shape == out_size + (3,) and crop.dtype == np.uint8
    weight = crop[..., 0].astype(float)
    rows, cols = np.mgrid[:out_size[0], :out_size[1]]
    centroid = ((weight * cols).sum() / weight.sum(), (weight * rows).sum() / weight.sum())
    expected = keypoints_to_box_frame(np.array([700.0, 400.0]), box, out_size)
    tolerance = 0.1 if antialias else 0.6  # bilinear point sampling of a 9x shrink is coarse
    np.testing.assert_allclose(centroid, expected, atol=tolerance)
    peak = crop[..., 0].astype(float).max()  # channels are kept apart: (255, 200, 100) stays in proportion
    assert abs(crop[..., 1].max() - peak * 200 / 255) <= 2 and abs(crop[..., 2].max() - peak * 100 / 255) <= 2


def test_crop_pads_black_outside_image_and_upsamples():
    image = np.full((100, 200, 3), 200, np.uint8)
    crop = crop_and_resize(image, (-100.0, -50.0, 100.0, 150.0), (20, 20))  # 10x shrink, top-left outside
    assert crop[:4, :, 0].max() == 0 and crop[:, :9, 0].max() == 0  # rows y < 0, columns x < 0
    assert crop[7:14, 12:, 0].min() == 200 and crop[17:, :, 0].max() == 0  # image rows 20..90; y >= 100 black
    assert crop_and_resize(image, (500.0, 500.0, 900.0, 900.0), (8, 8)).max() == 0  # box misses the image
    up = crop_and_resize(image, (10.0, 10.0, 14.0, 14.0), (16, 16))
    assert up.min() == 200
    gray = crop_and_resize(image[..., :1], (0.0, 0.0, 200.0, 100.0), (10, 20))
    assert gray.shape == (10, 20, 1)
    many = crop_and_resize(np.full((60, 80, 7), 9, np.uint8), (0.0, 0.0, 80.0, 60.0), (6, 8))
    assert many.shape == (6, 8, 7) and many.min() == 9


def test_crop_area_average_does_not_alias():
    # A 1-pixel checkerboard averages to mid grey under a box filter; point sampling would not.
    image = ((np.indices((600, 600)).sum(axis=0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    crop = crop_and_resize(image, (100.0, 100.0, 500.0, 500.0), (40, 40))
    assert abs(crop.astype(float).mean() - 127.5) < 3 and crop.std() < 10


@pytest.mark.parametrize("image, box, out_size", [
    (np.zeros((10, 10), np.uint8), (0, 0, 5, 5), (4, 4)),
    (np.zeros((10, 10, 3), np.float32), (0, 0, 5, 5), (4, 4)),
    (np.zeros((10, 10, 3), np.uint8), (0, 0, 0, 5), (4, 4)),
    (np.zeros((10, 10, 3), np.uint8), (0, 0, np.nan, 5), (4, 4)),
    (np.zeros((10, 10, 3), np.uint8), (0, 0, 5, 5), (0, 4)),
])
def test_crop_bad_input(image, box, out_size):
    with pytest.raises(ValueError):
        crop_and_resize(image, box, out_size)


def test_crop_edges_black_only_where_the_crop_samples_outside():
    image = np.full((40, 60, 3), 120, np.uint8)
    # Level 0 (step 1): columns c sample x = -3.5 + c; x >= -0.5 (c >= 3) is inside and sees the edge extended.
    crop = crop_and_resize(image, (-3.5, 10.0, 4.5, 18.0), (8, 8))
    assert crop[:, :3].max() == 0 and crop[:, 3:].min() == 120
    # Level 2 (step 4): the same holds after averaging 4x4 blocks (no black bled in from outside the image).
    crop = crop_and_resize(image, (-14.0, 0.0, 50.0, 40.0), (10, 16))
    assert crop[:, :4].max() == 0 and crop[:, 4:].min() == 120  # x = -14 + 4c >= -0.5 from c = 4 on
    assert crop_and_resize(image, (0.0, 0.0, 60.0, 40.0), (5, 6)).min() == 120  # the whole image, 10x shrink


def test_reduction_levels_are_exact_powers_of_two():
    steps = np.array([[0.3, 1.99], [2.0, 3.999], [4.0, 8.0], [1000.0, 1.0]])
    np.testing.assert_array_equal(reduction_levels(steps), [[0, 0], [1, 1], [2, 3], [9, 0]])
    assert not reduction_levels(steps, antialias=False).any()


@pytest.mark.parametrize("channels", [3, 1, 4])
def test_planned_crops_of_many_frames_equal_crop_and_resize(channels):
    """Boxes of several frames and sizes (shrinks 0.5x..12x, unequal x / y halvings, boxes over the edges and
    far outside) cut from shared per-frame pyramids give exactly crop_and_resize's bytes."""
    rng = np.random.default_rng(11)
    frames = {f: rng.integers(0, 256, (90, 130, channels), dtype=np.uint8) for f in (3, 7, 8)}
    count = 60
    centres = rng.uniform(-30, 160, (count, 2))
    sides = rng.uniform(4, 300, (count, 2)) * rng.choice([1.0, 0.5], (count, 1))  # some boxes not square
    boxes = np.concatenate([centres - sides / 2, centres + sides / 2], axis=1)
    boxes[0] = (500.0, 500.0, 700.0, 650.0)  # misses the image
    sizes = np.array([(16, 16), (32, 16), (24, 40)])[rng.integers(0, 3, count)]
    owners = rng.choice(list(frames), count)
    plan = plan_crops(boxes, sizes, owners, (90, 130))
    assert (plan.levels[:, 0] != plan.levels[:, 1]).any() and plan.levels.max() >= 3
    seen = 0
    for frame, image in frames.items():
        for b, crop in cut_frame(image, plan, frame):
            assert owners[b] == frame
            np.testing.assert_array_equal(crop, crop_and_resize(image, boxes[b], tuple(sizes[b])), err_msg=str(b))
            seen += 1
    assert seen == count
    assert list(cut_frame(frames[3], plan, 99)) == []  # a frame without boxes


def test_plan_crops_rejects_bad_boxes_and_sizes():
    with pytest.raises(ValueError, match="x1 > x0"):
        plan_crops(np.array([[0.0, 0.0, 5.0, 5.0], [3.0, 1.0, 2.0, 4.0]]), (8, 8), np.zeros(2), (20, 20))
    with pytest.raises(ValueError, match="positive"):
        plan_crops(np.array([[0.0, 0.0, 5.0, 5.0]]), (0, 8), np.zeros(1), (20, 20))
