"""Frame index sampling (PYSKL `UniformSampleFrames` semantics, DESIGN.md §4) and equal-interval subsampling.

Bins: [0, num_frames) is split into clip_len bins with integer edges edge[i] = i * num_frames // clip_len, so
every bin holds at least one frame once num_frames >= clip_len.
- training (an rng is given): one uniformly random frame per bin.
- test (rng is None): the middle frame of each bin, edge[i] + size[i] // 2 (PYSKL draws test indices with a
  fixed seed; a fixed rule gives the same reproducibility without any RNG state).
- num_frames < clip_len: like PYSKL, the clip loops over the video: indices (start + arange(clip_len)) %
  num_frames, with start uniform in [0, num_frames) in training and 0 in test.
Deviation from PYSKL: for clip_len <= num_frames < 2 * clip_len PYSKL inserts num_frames - clip_len skips at
random positions; the bin rule above is used for every num_frames >= clip_len (both give distinct, increasing
indices that cover the whole video).
"""
from __future__ import annotations

import numpy as np


def _check_counts(num_frames: int, count: int, what: str) -> None:
    if int(num_frames) != num_frames or num_frames < 1:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if int(count) != count or count < 1:
        raise ValueError(f"{what} must be a positive integer, got {count!r}")


def _bin_edges(num_frames: int, bins: int) -> np.ndarray:
    """(bins + 1,) int64 integer bin edges i * num_frames // bins."""
    return np.arange(bins + 1, dtype=np.int64) * num_frames // bins


def uniform_sample_indices(num_frames: int, clip_len: int,
                           rng: np.random.Generator | None = None) -> np.ndarray:
    """clip_len frame indices into a video of num_frames frames -> (clip_len,) int64 in [0, num_frames).

    rng given: training sampling (random frame per bin, or a random loop start for short videos);
    rng None: deterministic test sampling (bin middles, or the loop from frame 0).
    """
    _check_counts(num_frames, clip_len, "clip_len")
    if num_frames < clip_len:
        start = 0 if rng is None else int(rng.integers(num_frames))
        return (start + np.arange(clip_len, dtype=np.int64)) % num_frames
    edges = _bin_edges(num_frames, clip_len)
    sizes = np.diff(edges)
    if rng is None:
        return edges[:-1] + sizes // 2
    return edges[:-1] + rng.integers(0, sizes, dtype=np.int64)


def equal_interval_indices(num_frames: int, count: int) -> np.ndarray:
    """count frame indices at equal intervals over num_frames frames -> (count,) int64, non-decreasing.

    The middle frame of each of `count` equal bins (the test rule of uniform_sample_indices). With fewer
    frames than count, frames repeat in order (nearest frame of the bin centre) instead of looping, so the
    result stays in temporal order: e.g. (2, 4) -> [0, 0, 1, 1].
    """
    _check_counts(num_frames, count, "count")
    if num_frames >= count:
        return uniform_sample_indices(num_frames, count, None)
    return (2 * np.arange(count, dtype=np.int64) + 1) * num_frames // (2 * count)


def subsample(indices: np.ndarray, count: int) -> np.ndarray:
    """count of the given indices, picked at equal intervals (e.g. 16 of 48 sampled frames: every third).

    indices: (L,) array. Returns (count,) of the same dtype: indices[equal_interval_indices(L, count)].
    """
    indices = np.asarray(indices)
    if indices.ndim != 1 or indices.size == 0:
        raise ValueError(f"indices must be a non-empty 1-D array, got shape {indices.shape}")
    return indices[equal_interval_indices(indices.size, count)]
