"""Model-input transforms: clip resizing, min-max scaling and AMFI-Net's clip augmentation."""
import numpy as np

from har.train.inputs import min_max, resize_clip, rotate_flip_scale


def test_resize_clip_keeps_frames_and_content():
    clip = np.zeros((4, 112, 112, 3), np.uint8)
    clip[:, :56] = 200  # top half bright
    small = resize_clip(clip, 64)
    assert small.shape == (4, 64, 64, 3) and small.dtype == np.uint8
    assert small[:, :30].min() == 200 and small[:, 34:].max() == 0
    assert resize_clip(clip, 112) is clip
    assert resize_clip(small, 112).shape == (4, 112, 112, 3)


def test_min_max_scales_each_sample_to_unit_range():
    values = min_max(np.array([[2.0, 4.0], [6.0, 10.0]], np.float32))
    assert values.min() == 0.0 and values.max() == 1.0
    assert np.all(min_max(np.full((2, 2), 7.0, np.float32)) == 0.0)  # constant input: no division by zero


def test_clip_augmentation_is_off_at_test_time_and_seeded_in_training():
    clip = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    assert rotate_flip_scale(clip, None, True, True, 0.2) is clip
    first = rotate_flip_scale(clip, np.random.default_rng(5), True, True, 0.2)
    again = rotate_flip_scale(clip, np.random.default_rng(5), True, True, 0.2)
    assert first.shape == clip.shape and np.array_equal(first, again)
    assert np.array_equal(rotate_flip_scale(clip, np.random.default_rng(5), False, False, 0.0), clip)
