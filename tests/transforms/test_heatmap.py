"""gaussian_heatmaps against a per-joint / per-limb loop written from the PoseC3D description, plus edge cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

import har.transforms.heatmap as heatmap
from har.layout import COCO_EDGES, NTU_EDGES
from har.train.inputs import to_unit
from har.transforms.heatmap import gaussian_heatmaps

EPS = 1e-3


# --- reference: one joint / one limb at a time ----------------------------------------------------------------
def _ref_joint(plane, mu, value, sigma):
    height, width = plane.shape
    x0, x1 = max(int(mu[0] - 3 * sigma), 0), min(int(mu[0] + 3 * sigma) + 1, width)
    y0, y1 = max(int(mu[1] - 3 * sigma), 0), min(int(mu[1] + 3 * sigma) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return
    x = np.arange(x0, x1, dtype=np.float32)
    y = np.arange(y0, y1, dtype=np.float32)[:, None]
    patch = np.exp(-((x - mu[0]) ** 2 + (y - mu[1]) ** 2) / 2 / sigma**2) * value
    plane[y0:y1, x0:x1] = np.maximum(plane[y0:y1, x0:x1], patch)


def _ref_limb(plane, a, b, value_a, value_b, sigma):
    height, width = plane.shape
    x0, x1 = max(int(min(a[0], b[0]) - 3 * sigma), 0), min(int(max(a[0], b[0]) + 3 * sigma) + 1, width)
    y0, y1 = max(int(min(a[1], b[1]) - 3 * sigma), 0), min(int(max(a[1], b[1]) + 3 * sigma) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return
    if (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 < 1:
        _ref_joint(plane, a, value_a, sigma)
        return
    a, b = a.astype(np.float64), b.astype(np.float64)
    x = np.arange(x0, x1, dtype=np.float64)
    y = np.arange(y0, y1, dtype=np.float64)[:, None]
    t = ((x - a[0]) * (b[0] - a[0]) + (y - a[1]) * (b[1] - a[1])) / ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2)
    d2_a = (x - a[0]) ** 2 + (y - a[1]) ** 2
    d2_b = (x - b[0]) ** 2 + (y - b[1]) ** 2
    d2_line = (x - a[0] - t * (b[0] - a[0])) ** 2 + (y - a[1] - t * (b[1] - a[1])) ** 2
    d2 = np.where(t <= 0, d2_a, np.where(t >= 1, d2_b, d2_line))
    patch = (np.exp(-d2 / 2 / sigma**2) * min(value_a, value_b)).astype(np.float32)
    plane[y0:y1, x0:x1] = np.maximum(plane[y0:y1, x0:x1], patch)


def reference_heatmaps(keypoints, scores, size, sigma=0.6, edges=()):
    persons, frames, joints, _ = keypoints.shape
    scores = np.ones(keypoints.shape[:3], np.float32) if scores is None else scores
    out = np.zeros((joints + len(edges), frames) + tuple(size), np.float32)
    for m in range(persons):
        for t in range(frames):
            kp, sc = keypoints[m, t], scores[m, t]
            ok = [not (math.isnan(p[0]) or math.isnan(p[1]) or (p[0] == 0 and p[1] == 0)) and s >= EPS
                  for p, s in zip(kp, sc)]
            for v in range(joints):
                if ok[v]:
                    _ref_joint(out[v, t], kp[v], sc[v], sigma)
            for e, (i, j) in enumerate(edges):
                if ok[i] and ok[j]:
                    _ref_limb(out[joints + e, t], kp[i], kp[j], sc[i], sc[j], sigma)
    return out


# --- data ---------------------------------------------------------------------------------------------------
def messy_keypoints(rng, persons, frames, joints, size):
    """Keypoints over and around an (H, W) map with every special case: missing (0, 0) and NaN joints, joints
    just outside / far outside the map, scores under the threshold, a valid joint with x == 0, short limbs."""
    height, width = size
    kp = np.stack([rng.uniform(-3, width + 3, (persons, frames, joints)),
                   rng.uniform(-3, height + 3, (persons, frames, joints))], axis=-1).astype(np.float32)
    scores = rng.uniform(0.0, 1.0, kp.shape[:3]).astype(np.float32)
    flat_kp, flat_sc = kp.reshape(-1, 2), scores.reshape(-1)
    picks = rng.choice(flat_sc.size, 9 * 4, replace=False).reshape(9, 4)
    flat_kp[picks[0]] = 0.0                                   # zero-padded (missing)
    flat_kp[picks[1], rng.integers(0, 2, 4)] = np.nan         # NaN (missing)
    flat_kp[picks[2]] = (-1.9, 5.0)                           # int() truncates toward zero: draws at x = 0
    flat_kp[picks[3]] = (1e6, -1e7)                           # far outside: nothing, no error
    flat_sc[picks[4]] = 0.0009                                # under the score threshold
    flat_sc[picks[5]] = 0.001                                 # exactly at the threshold: drawn
    flat_kp[picks[6], 0] = 0.0                                # x == 0 alone is a valid joint
    flat_kp[picks[7]] = flat_kp[(picks[7] + 1) % flat_sc.size] + 0.4  # neighbours < 1 px apart: short limbs
    flat_kp[picks[8]] = (width - 0.2, height + 1.5)           # window clipped at the far edges
    return kp, scores


@pytest.mark.parametrize("persons, joints, size, sigma", [
    (1, 25, (32, 32), 0.6), (2, 25, (24, 40), 0.6), (3, 17, (20, 16), 0.6), (2, 17, (28, 28), 1.7),
    (2, 17, (8, 40), 3.0),  # windows up to 20 pixels: wider than the map is high
])
def test_joints_match_reference_loop(persons, joints, size, sigma):
    rng = np.random.default_rng(persons * 100 + joints)
    kp, scores = messy_keypoints(rng, persons, 6, joints, size)
    expected = reference_heatmaps(kp, scores, size, sigma)
    got = gaussian_heatmaps(kp, scores, size, sigma)
    assert got.shape == (joints, 6) + size and got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-6
    assert np.count_nonzero(got) > 0


@pytest.mark.parametrize("persons, joints, size, edges", [
    (2, 25, (32, 32), NTU_EDGES), (1, 17, (24, 40), COCO_EDGES), (2, 25, (20, 20), ((0, 24), (3, 3), (5, 4))),
])
def test_limbs_match_reference_loop(persons, joints, size, edges, monkeypatch):
    rng = np.random.default_rng(7 + joints)
    kp, scores = messy_keypoints(rng, persons, 5, joints, size)
    expected = reference_heatmaps(kp, scores, size, 0.6, edges)
    explicit = gaussian_heatmaps(kp, scores, size, with_limbs=True, edges=edges)
    assert explicit.shape == (joints + len(edges), 5) + size
    assert np.abs(explicit - expected).max() <= 1e-6
    if edges in (NTU_EDGES, COCO_EDGES):  # the layout's bones are the default
        np.testing.assert_array_equal(gaussian_heatmaps(kp, scores, size, with_limbs=True), explicit)
    monkeypatch.setattr(heatmap, "LIMB_PIXELS", 37)  # many small batches: same result
    np.testing.assert_array_equal(gaussian_heatmaps(kp, scores, size, with_limbs=True, edges=edges), explicit)


def test_scores_none_means_one_and_window_is_truncated():
    kp = np.zeros((1, 1, 3, 2), np.float32)
    kp[0, 0] = [(10.0, 10.0), (-1.9, 5.0), (-2.0, 5.0)]
    maps = gaussian_heatmaps(kp, None, (20, 20))
    # Joint at (10, 10): window [int(8.2), int(11.8) + 1) = [8, 12) on both axes, peak 1.
    assert maps[0, 0, 10, 10] == 1.0
    assert set(zip(*np.nonzero(maps[0, 0]))) == {(y, x) for y in range(8, 12) for x in range(8, 12)}
    # mu_x = -1.9: int(-0.1) = 0 (toward zero) so column 0 is drawn; mu_x = -2.0: int(-0.2) + 1 = 1 as well.
    assert maps[1, 0, 5, 0] == pytest.approx(math.exp(-1.9**2 / 0.72), abs=1e-7)
    assert np.count_nonzero(maps[1, 0, :, 1:]) == 0
    assert maps[2, 0, 5, 0] == pytest.approx(math.exp(-4.0 / 0.72), abs=1e-7)


def test_missing_joints_draw_nothing_and_persons_merge_by_max():
    kp = np.zeros((3, 2, 2, 2), np.float32)  # person 2 is all zero padding (PYSKL would draw at the origin)
    kp[0, :, 0] = (5.0, 5.0)
    kp[1, :, 0] = (5.0, 5.0)
    kp[0, 1, 1] = (np.nan, 3.0)
    kp[1, 1, 1] = (0.0, 3.0)  # x == 0 but y != 0: present
    scores = np.ones((3, 2, 2), np.float32)
    scores[0, :, 0], scores[1, :, 0] = 0.4, 0.7
    maps = gaussian_heatmaps(kp, scores, (8, 8))
    assert maps[0, :, 5, 5].tolist() == pytest.approx([0.7, 0.7])  # max, not sum
    assert np.count_nonzero(maps[1, 0]) == 0 and maps[1, 1, 3, 0] == 1.0
    assert maps[:, :, 0, 0].max() < 1e-20  # nothing drawn for the padded person at (0, 0)


def test_uint8_output_equals_quantised_float_output():
    rng = np.random.default_rng(3)
    kp, scores = messy_keypoints(rng, 2, 4, 25, (32, 32))
    for limbs in (False, True):
        floats = gaussian_heatmaps(kp, scores, (32, 32), with_limbs=limbs)
        quantised = gaussian_heatmaps(kp, scores, (32, 32), with_limbs=limbs, dtype=np.uint8)
        assert quantised.dtype == np.uint8
        np.testing.assert_array_equal(quantised, np.rint(floats * np.float32(255)).astype(np.uint8))
        assert np.abs(to_unit(quantised) - floats).max() <= 1 / 510 + 1e-7


def test_to_unit_inverts_the_uint8_quantisation_and_rejects_other_dtypes():
    stored = np.array([[0, 1, 64], [128, 254, 255]], np.uint8)
    unit = to_unit(stored)
    assert unit.dtype == np.float32 and unit.shape == (2, 3)
    assert unit[0, 0] == 0.0 and unit[1, 2] == 1.0
    np.testing.assert_array_equal(np.rint(unit * 255).astype(np.uint8), stored)
    with pytest.raises(ValueError, match="uint8"):
        to_unit(stored.astype(np.float32))


@pytest.mark.parametrize("kwargs, message", [
    (dict(keypoints=np.zeros((2, 3, 2))), "must be \\(M, T, V, 2\\)"),
    (dict(keypoints=np.full((1, 1, 2, 2), np.inf)), "infinite"),
    (dict(scores=np.ones((1, 2, 2))), "scores must have shape"),
    (dict(scores=np.full((1, 1, 2), np.nan)), "NaN"),
    (dict(size=(0, 8)), "size must be"),
    (dict(sigma=0.0), "sigma"),
    (dict(with_limbs=True, edges=((0, 2),)), "outside 0..1"),
    (dict(dtype=np.float64), "dtype"),
    (dict(scores=np.full((1, 1, 2), 1.5), dtype=np.uint8), "above 1"),
])
def test_bad_input_raises(kwargs, message):
    args = dict(keypoints=np.full((1, 1, 2, 2), 3.0, np.float32), scores=None, size=(8, 8))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        gaussian_heatmaps(**args)


def test_unknown_layout_needs_explicit_edges():
    kp = np.full((1, 1, 5, 2), 3.0, np.float32)
    with pytest.raises(ValueError, match="no known skeleton layout"):
        gaussian_heatmaps(kp, None, (8, 8), with_limbs=True)
    assert gaussian_heatmaps(kp, None, (8, 8), with_limbs=True, edges=((0, 1),)).shape == (6, 1, 8, 8)
