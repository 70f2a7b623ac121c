import numpy as np

from har.layout import LEFT_SHOULDER, RIGHT_SHOULDER, SPINE_BASE, SPINE_MID
from har.transforms.normalize import normalize_skeleton, rotation_between, temporal_resize


def test_centre_on_first_frame_spine_mid_keeps_absent_joints_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (2, 10, 25, 3)).astype(np.float32)
    x[1, 5:] = 0
    x[0, 3, 7] = 0
    out = normalize_skeleton(x)
    np.testing.assert_allclose(out[0, 0, SPINE_MID], 0, atol=1e-6)
    assert np.all(out[1, 5:] == 0) and np.all(out[0, 3, 7] == 0)
    np.testing.assert_allclose(out[0, 4] - out[0, 2], x[0, 4] - x[0, 2], atol=1e-5)


def test_view_alignment_puts_spine_on_z_and_shoulders_on_x():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (1, 4, 25, 3)).astype(np.float32)
    out = normalize_skeleton(x, align_view=True)
    spine = out[0, 0, SPINE_MID] - out[0, 0, SPINE_BASE]
    np.testing.assert_allclose(spine[:2], 0, atol=1e-5)
    assert spine[2] > 0
    shoulders = out[0, 0, RIGHT_SHOULDER] - out[0, 0, LEFT_SHOULDER]
    assert abs(shoulders[1]) < 1e-5 and shoulders[0] > 0
    # rotations preserve lengths
    np.testing.assert_allclose(np.linalg.norm(out[0, 2, 3] - out[0, 2, 9]),
                               np.linalg.norm(x[0, 2, 3] - x[0, 2, 9]), rtol=1e-5)


def test_rotation_between_handles_opposite_vectors():
    r = rotation_between(np.array([0, 0, -1.0]), np.array([0, 0, 1.0]))
    np.testing.assert_allclose(r @ [0, 0, -1.0], [0, 0, 1.0], atol=1e-9)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)


def test_temporal_resize_subsamples_or_pads():
    x = np.arange(50, dtype=np.float32).reshape(1, 50, 1, 1) + 1
    short, length = temporal_resize(x[:, :20], 32)
    assert length == 20 and short.shape == (1, 32, 1, 1)
    assert np.all(short[:, 20:] == 0) and short[0, 19, 0, 0] == 20
    long, length = temporal_resize(x, 32)
    assert length == 32 and long[0, 0, 0, 0] == 1 and long[0, -1, 0, 0] == 50
    assert np.all(np.diff(long[0, :, 0, 0]) > 0)
