"""Spatial and temporal normalisation of 3D skeletons (2s-AGCN / PYSKL `PreNormalize3D` semantics).

Spatial: translate so the spine-mid joint of the first actor's first frame is the origin; optionally rotate so the
first frame's spine (base -> mid) points along +z and its shoulders (left -> right) along +x. Absent joints
(all-zero coordinates) stay exactly zero.
Temporal: resample to T frames — uniform subsampling of longer sequences, zero padding of shorter ones.
"""
from __future__ import annotations

import numpy as np

from har.layout import LEFT_SHOULDER, RIGHT_SHOULDER, SPINE_BASE, SPINE_MID


def present_mask(x: np.ndarray) -> np.ndarray:
    """(..., V) bool: joints whose coordinates are not all zero. x: (..., V, C)."""
    return np.any(x != 0, axis=-1)


def rotation_between(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking the direction of `source` onto `target` (identity for zero or parallel input)."""
    a = source / (np.linalg.norm(source) or 1.0)
    b = target / (np.linalg.norm(target) or 1.0)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-8:
        if cos > 0 or not np.any(a):
            return np.eye(3)
        # Opposite directions: half turn about any axis perpendicular to a.
        helper = np.array([1.0, 0, 0]) if abs(a[0]) < 0.9 else np.array([0, 1.0, 0])
        axis = np.cross(a, helper)
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = axis / sin
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def view_rotation(frame: np.ndarray) -> np.ndarray:
    """(3, 3) rotation putting a frame's spine (base -> mid) on +z and its shoulders (left -> right) on +x.

    Built as an orthonormal frame (z = spine, x = shoulders made orthogonal to z, y = z x x), so both
    alignments hold exactly. (2s-AGCN/PYSKL rotate twice in sequence, and the second turn tilts the spine
    slightly off +z.) frame: (V, 3).
    """
    z = frame[SPINE_MID] - frame[SPINE_BASE]
    shoulders = frame[RIGHT_SHOULDER] - frame[LEFT_SHOULDER]
    if np.linalg.norm(z) < 1e-8:
        return np.eye(3)
    z = z / np.linalg.norm(z)
    x = shoulders - np.dot(shoulders, z) * z
    if np.linalg.norm(x) < 1e-8:
        return rotation_between(z, np.array([0.0, 0.0, 1.0]))
    x = x / np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def normalize_skeleton(x: np.ndarray, align_view: bool = False) -> np.ndarray:
    """Centre (and optionally view-align) a skeleton sequence.

    x: (M, F, V, 3) float32, zero where a joint or actor is absent; actor 0 present in frame 0 (select_actors
    guarantees frame 0 has an actor; the first actor present in frame 0 is used). Returns (M, F, V, 3) float32.
    """
    mask = present_mask(x)
    origin_actor = int(np.argmax(mask[:, 0].any(axis=-1)))
    reference = x[origin_actor, 0]
    out = np.where(mask[..., None], x - reference[SPINE_MID], 0.0)
    if align_view:
        out = np.where(mask[..., None], out @ view_rotation(out[origin_actor, 0]).T, 0.0)
    return out.astype(np.float32)


def temporal_resize(x: np.ndarray, frames: int) -> tuple[np.ndarray, int]:
    """Resample the time axis (axis 1) to `frames`.

    x: (M, F, ...) → ((M, frames, ...), length). Longer sequences are subsampled at evenly spaced indices
    (rounded linspace over [0, F-1], so first and last frames are kept); shorter ones are zero-padded at the end.
    length = min(F, frames).
    """
    num = x.shape[1]
    if num >= frames:
        index = np.round(np.linspace(0, num - 1, frames)).astype(np.int64)
        return x[:, index], frames
    out = np.zeros((x.shape[0], frames, *x.shape[2:]), x.dtype)
    out[:, :num] = x
    return out, num
