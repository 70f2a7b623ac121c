"""Spatial-temporal ROI (ST-ROI) mosaics of the skeleton-driven attention model (MMNet's precursor).

K parts (rows: har.layout.STROI_PARTS = head, left hand, right hand, left foot, right foot) x L frames at equal
intervals (columns). Each sub-ROI is a square of `roi_side` video pixels centred on the part's joint, resized to
s x s. For two persons each cell holds two halves side by side (actor 0, the most moving one, on the left), each
person's square ROI resized to s x s/2. A joint missing in a chosen frame takes its position from the nearest
frame where that person's joint is tracked (ties: the earlier frame).

The paper uses 96-pixel sub-ROIs on NTU's 1080-line video; `roi_side` scales that with the video height so a
270-line synthetic video uses 24 pixels for the same part of the body.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from har.transforms.crop import PartError, joint_valid, nearest_valid_index


def roi_side(roi_size: float, video_height: int, reference_height: int = 1080) -> float:
    """Side of a sub-ROI in this video's pixels: roi_size at reference_height lines, scaled by the height."""
    if roi_size <= 0 or video_height <= 0 or reference_height <= 0:
        raise ValueError(f"need positive roi_size, video_height, reference_height; got {roi_size}, "
                         f"{video_height}, {reference_height}")
    return float(roi_size) * video_height / reference_height


def present_persons(keypoints: np.ndarray) -> list[int]:
    """(M, F, V, 2) NaN = missing -> indices of the actors with at least one tracked joint."""
    return np.flatnonzero(joint_valid(keypoints).any(axis=(1, 2))).tolist()


def roi_centres(keypoints: np.ndarray, joints: Sequence[int], positions: np.ndarray,
                names: Sequence[str] | None = None) -> np.ndarray:
    """Joint positions of each present person at the chosen frames -> (P, K, L, 2) float64 pixels.

    keypoints: (M, F, V, 2) video pixels, NaN = missing; joints: (K,) joint index per part; positions: (L,)
    indices into the F frames. P = the present persons (see present_persons), in actor order. Raises PartError
    when a present person's part joint is tracked in no frame.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 4 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (M, F, V, 2), got shape {kp.shape}")
    names = list(names) if names is not None else [f"joint {j + 1}" for j in joints]
    persons = present_persons(kp)
    if not persons:
        raise PartError("no person has a tracked joint")
    tracks = kp[persons][:, :, list(joints)]  # (P, F, K, 2)
    valid = joint_valid(tracks).transpose(0, 2, 1)  # (P, K, F)
    never = np.argwhere(~valid.any(axis=-1))
    if never.size:
        p, k = never[0]
        raise PartError(f"actor {persons[p]}: {names[k]} (joint {joints[k] + 1}) is never tracked")
    source = nearest_valid_index(valid)[..., np.asarray(positions)]  # (P, K, L) frame indices
    person, part = np.ogrid[:len(persons), :len(joints)]
    return tracks[person[..., None], source, part[..., None]]


def roi_boxes(centres: np.ndarray, side: float) -> np.ndarray:
    """(..., 2) centres -> (..., 4) float64 square boxes (x0, y0, x1, y1) of the given side."""
    centres = np.asarray(centres, np.float64)
    half = side / 2
    return np.concatenate([centres - half, centres + half], axis=-1)


def cell_slots(num_persons: int, cell: int) -> list[tuple[int, int]]:
    """Column span (start, width) inside an s-wide cell for each person: one person fills it, two share it."""
    if num_persons == 1:
        return [(0, cell)]
    if num_persons == 2:
        if cell % 2:
            raise ValueError(f"an ST-ROI cell shared by two persons needs an even side, got {cell}")
        return [(0, cell // 2), (cell // 2, cell // 2)]
    raise ValueError(f"ST-ROI cells hold one or two persons, got {num_persons}")


def cell_window(part: int, column: int, person: int, num_persons: int, cell: int) -> tuple[slice, slice]:
    """(rows, columns) of a (K s, L s, C) mosaic holding one person's ROI of one part in one column: row band
    `part`, column band `column`, and the person's half of the cell when two share it."""
    start, width = cell_slots(num_persons, cell)[person]
    left = column * cell + start
    return slice(part * cell, (part + 1) * cell), slice(left, left + width)
