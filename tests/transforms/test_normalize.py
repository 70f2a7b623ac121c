from pathlib import Path

import numpy as np
import pytest

from har.io.ntu_skeleton import read_skeleton
from har.layout import LEFT_SHOULDER, RIGHT_SHOULDER, SPINE_BASE, SPINE_MID
from har.transforms.normalize import normalize_skeleton, temporal_resize, view_rotation

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ntu-samples"  # real NTU files shipped with the tests


def _gram_schmidt_rotation(frame: np.ndarray) -> np.ndarray:
    """Reference (the hand-built frame scipy replaced): rows x = shoulders made orthogonal to the spine,
    y = z × x, z = spine, so the matrix maps the spine onto +z and the shoulders' cross component onto +x."""
    z = frame[SPINE_MID] - frame[SPINE_BASE]
    z = z / np.linalg.norm(z)
    shoulders = frame[RIGHT_SHOULDER] - frame[LEFT_SHOULDER]
    x = shoulders - np.dot(shoulders, z) * z
    x = x / np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


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


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.skeleton")))
def test_view_rotation_matches_the_gram_schmidt_frame_on_real_samples(name):
    frames = np.concatenate([track.xyz for track in read_skeleton(SAMPLES / name).tracks]).astype(np.float64)
    assert len(frames) > 50
    for frame in frames:
        np.testing.assert_allclose(view_rotation(frame), _gram_schmidt_rotation(frame), rtol=0, atol=1e-6)


def test_view_rotation_degenerate_frames():
    frame = np.zeros((25, 3))
    np.testing.assert_array_equal(view_rotation(frame), np.eye(3))  # no spine: nothing to align
    frame[SPINE_MID] = [0, 0, -1.0]  # spine pointing down, shoulders absent: a half turn puts it on +z
    rotation = view_rotation(frame)
    np.testing.assert_allclose(rotation @ [0, 0, -1.0], [0, 0, 1.0], atol=1e-9)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    frame[SPINE_MID] = [0, 0.6, 0.8]
    frame[RIGHT_SHOULDER] = [0, 1.2, 1.6]  # shoulders along the spine: the shortest turn of the spine onto +z
    rotation = view_rotation(frame)
    np.testing.assert_allclose(rotation @ [0, 0.6, 0.8], [0, 0, 1.0], atol=1e-9)
    np.testing.assert_allclose(rotation @ [1.0, 0, 0], [1.0, 0, 0], atol=1e-9)  # the turn axis is untouched


def test_temporal_resize_subsamples_or_pads():
    x = np.arange(50, dtype=np.float32).reshape(1, 50, 1, 1) + 1
    short, length = temporal_resize(x[:, :20], 32)
    assert length == 20 and short.shape == (1, 32, 1, 1)
    assert np.all(short[:, 20:] == 0) and short[0, 19, 0, 0] == 20
    long, length = temporal_resize(x, 32)
    assert length == 32 and long[0, 0, 0, 0] == 1 and long[0, -1, 0, 0] == 50
    assert np.all(np.diff(long[0, :, 0, 0]) > 0)


def test_per_frame_centre_puts_each_frames_spine_mid_at_the_origin_and_fills_gaps_forward():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (2, 6, 25, 3)).astype(np.float32)
    x[0, 3, SPINE_MID] = 0  # the origin actor's spine-mid is missing in frame 3: frame 2's is used
    x[1, 4:] = 0  # an absent actor stays zero
    out = normalize_skeleton(x, centre="per_frame")
    for frame in (0, 1, 2, 4, 5):
        np.testing.assert_allclose(out[0, frame, SPINE_MID], 0, atol=1e-6)
    np.testing.assert_allclose(out[0, 3, 0], x[0, 3, 0] - x[0, 2, SPINE_MID], atol=1e-5)
    np.testing.assert_allclose(out[1, 1], x[1, 1] - x[0, 1, SPINE_MID], atol=1e-5)  # the origin actor's centre
    assert np.all(out[1, 4:] == 0) and np.all(out[0, 3, SPINE_MID] == 0)
    # differs from first-frame centring wherever the body moves
    assert not np.allclose(out[0, 5], normalize_skeleton(x)[0, 5])


def test_no_centre_keeps_raw_coordinates_and_view_alignment_still_applies():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (1, 4, 25, 3)).astype(np.float32)
    np.testing.assert_array_equal(normalize_skeleton(x, centre="none"), x)
    aligned = normalize_skeleton(x, align_view=True, centre="per_frame")
    spine = aligned[0, 0, SPINE_MID] - aligned[0, 0, SPINE_BASE]
    np.testing.assert_allclose(spine / np.linalg.norm(spine), [0, 0, 1], atol=1e-5)
    with pytest.raises(ValueError, match="centre must be one of"):
        normalize_skeleton(x, centre="middle")
