"""Frame sampling: bin properties for training and test, looping of short videos, equal-interval picks."""
from __future__ import annotations

import numpy as np
import pytest

from har.transforms.sample import equal_interval_indices, subsample, uniform_sample_indices

LENGTHS = [1, 2, 5, 31, 47, 48, 49, 50, 95, 96, 97, 103, 300]


def _bins(num_frames, clip_len):
    edges = np.arange(clip_len + 1) * num_frames // clip_len
    return edges[:-1], edges[1:]


@pytest.mark.parametrize("num_frames", [n for n in LENGTHS if n >= 48])
def test_training_draws_one_index_per_bin(num_frames):
    rng = np.random.default_rng(num_frames)
    lo, hi = _bins(num_frames, 48)
    seen = np.zeros(num_frames, bool)
    for _ in range(200):
        idx = uniform_sample_indices(num_frames, 48, rng)
        assert idx.shape == (48,) and idx.dtype == np.int64
        assert np.all((lo <= idx) & (idx < hi))
        seen[idx] = True
    assert seen.all()  # every frame of every bin is reachable


@pytest.mark.parametrize("num_frames", [n for n in LENGTHS if n >= 48])
def test_test_mode_is_deterministic_bin_middle(num_frames):
    idx = uniform_sample_indices(num_frames, 48, None)
    lo, hi = _bins(num_frames, 48)
    np.testing.assert_array_equal(idx, lo + (hi - lo) // 2)
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(uniform_sample_indices(300, 48), np.arange(48) * 300 // 48 + 3)


@pytest.mark.parametrize("num_frames", [n for n in LENGTHS if n < 48])
def test_short_videos_loop(num_frames):
    np.testing.assert_array_equal(uniform_sample_indices(num_frames, 48, None), np.arange(48) % num_frames)
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(1000):
        idx = uniform_sample_indices(num_frames, 48, rng)
        starts.add(int(idx[0]))
        np.testing.assert_array_equal(idx, (idx[0] + np.arange(48)) % num_frames)
    assert starts == set(range(num_frames))


def test_same_seed_same_indices():
    a = uniform_sample_indices(103, 48, np.random.default_rng(5))
    b = uniform_sample_indices(103, 48, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_equal_interval_and_subsample():
    np.testing.assert_array_equal(equal_interval_indices(48, 16), np.arange(16) * 3 + 1)
    np.testing.assert_array_equal(equal_interval_indices(2, 4), [0, 0, 1, 1])
    np.testing.assert_array_equal(equal_interval_indices(5, 5), np.arange(5))
    for n, count in [(103, 7), (7, 20), (48, 48), (1, 3)]:
        idx = equal_interval_indices(n, count)
        assert idx.shape == (count,) and idx.min() >= 0 and idx.max() < n and np.all(np.diff(idx) >= 0)
    sampled = uniform_sample_indices(150, 48, None)
    picked = subsample(sampled, 16)
    np.testing.assert_array_equal(picked, sampled[1::3])
    assert picked.dtype == sampled.dtype


@pytest.mark.parametrize("call", [
    lambda: uniform_sample_indices(0, 48),
    lambda: uniform_sample_indices(10, 0),
    lambda: equal_interval_indices(10, -1),
    lambda: subsample(np.array([]), 3),
    lambda: subsample(np.zeros((2, 2)), 1),
])
def test_bad_counts_raise(call):
    with pytest.raises(ValueError):
        call()
