"""Spatial and temporal normalisation of 3D skeletons (2s-AGCN / PYSKL `PreNormalize3D` semantics).

Spatial: translate so the spine-mid joint of the first actor's first frame is the origin (or that joint in every
frame, or no translation: `centre`); optionally rotate so the
first frame's spine (base -> mid) points along +z and its shoulders (left -> right) along +x. Absent joints
(all-zero coordinates) stay exactly zero.
Temporal: resample to T frames — uniform subsampling of longer sequences, zero padding of shorter ones.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from har.layout import LEFT_SHOULDER, RIGHT_SHOULDER, SPINE_BASE, SPINE_MID

_SPINE_AXIS, _SHOULDER_AXIS = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])  # where view_rotation puts them

def present_mask(x: np.ndarray) -> np.ndarray:
    """(..., V) bool: joints whose coordinates are not all zero. x: (..., V, C)."""
    return np.any(x != 0, axis=-1)


def view_rotation(frame: np.ndarray) -> np.ndarray:
    """(3, 3) float64 rotation putting a frame's spine (base -> mid) on +z and its shoulders (left -> right) on +x.

    The spine is aligned exactly and the shoulders as closely as that allows (their component across the spine
    lands on +x), so both alignments hold. (2s-AGCN/PYSKL rotate twice in sequence, and the second turn tilts the
    spine slightly off +z.) Identity for a zero spine; the shortest turn of the spine onto +z when the shoulders
    lie along the spine. frame: (V, 3).
    """
    frame = np.asarray(frame, dtype=np.float64)
    spine, shoulders = frame[SPINE_MID] - frame[SPINE_BASE], frame[RIGHT_SHOULDER] - frame[LEFT_SHOULDER]
    length = np.linalg.norm(spine)
    if length < 1e-8:
        return np.eye(3)
    across = shoulders - np.dot(shoulders, spine / length) * spine / length
    if np.linalg.norm(across) < 1e-8:
        rotation, _ = Rotation.align_vectors([_SPINE_AXIS], [spine])
    else:
        rotation, _ = Rotation.align_vectors([_SPINE_AXIS, _SHOULDER_AXIS], [spine, shoulders],
                                             weights=[np.inf, 1.0])
    return rotation.as_matrix()


CENTRES = ("first_frame", "per_frame", "none")


def centre_points(x: np.ndarray, origin_actor: int, centre: str = "first_frame") -> np.ndarray:
    """(F, 3) point subtracted from each frame: the origin actor's spine-mid in frame 0 (first_frame), in each
    frame (per_frame, 2s-AGCN's pre-normalisation; a frame where it is absent reuses the last frame where it is
    present), or zero (none: raw camera coordinates). x: (M, F, V, 3), the origin actor present in frame 0."""
    if centre not in CENTRES:
        raise ValueError(f"centre must be one of {', '.join(CENTRES)}, got {centre!r}")
    frames = x.shape[1]
    if centre == "none":
        return np.zeros((frames, 3), x.dtype)
    spine = x[origin_actor, :, SPINE_MID]  # (F, 3)
    if centre == "first_frame":
        return np.broadcast_to(spine[0], (frames, 3))
    present = np.any(spine != 0, axis=-1)
    last = np.maximum.accumulate(np.where(present, np.arange(frames), 0))  # frame 0 is present
    return spine[last]


def normalize_skeleton(x: np.ndarray, align_view: bool = False, centre: str = "first_frame") -> np.ndarray:
    """Centre (and optionally view-align) a skeleton sequence.

    x: (M, F, V, 3) float32, zero where a joint or actor is absent; actor 0 present in frame 0 (select_actors
    guarantees frame 0 has an actor; the first actor present in frame 0 is used). centre: see centre_points (the
    view rotation is the first frame's either way). Returns (M, F, V, 3) float32.
    """
    mask = present_mask(x)
    origin_actor = int(np.argmax(mask[:, 0].any(axis=-1)))
    if centre == "first_frame":  # the historical path, byte for byte
        out = np.where(mask[..., None], x - x[origin_actor, 0][SPINE_MID], 0.0)
    else:
        out = np.where(mask[..., None], x - centre_points(x, origin_actor, centre)[None, :, None], 0.0)
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
