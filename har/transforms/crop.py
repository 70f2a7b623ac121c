"""Body-part crop boxes for the part-crop clips of Das et al. (left hand, right hand, full body).

Per frame, from one actor's 2D joints in video pixels:
- hand: a square centred on the mean of the hand's valid joints (har.layout.LEFT_HAND_JOINTS /
  RIGHT_HAND_JOINTS), of side `hand_scale` x the body's height in that frame (the y-extent of all its valid
  joints), so the crop follows the person's apparent size (distance to the camera);
- full body: the tight box of all valid joints, scaled by (1 + body_padding) and squared (what
  har.transforms.box.person_box gives for that frame alone).
A frame where a part has no box (no valid joint of the part, or fewer than two valid joints to measure the
height) takes the box of the nearest frame where it has one (ties: the earlier frame). Boxes are (x0, y0, x1, y1)
floats in video pixels and may leave the image; the cropper (har.transforms.box) pads black there.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from har.errors import HarError

MIN_SIDE = 8.0  # pixels: a hand crop never shrinks below this, however small the body looks
MIN_BODY_SIDE = 10.0  # pixels: person_box's default min_size


class PartError(HarError, ValueError):
    """A body part with no usable joint in any frame."""


def nearest_valid_index(valid: np.ndarray) -> np.ndarray:
    """(..., F) bool -> (..., F) int64: for each frame, the nearest frame where valid is True (ties: the earlier
    one), track by track along the last axis.

    Raises PartError when a track has no valid frame.
    """
    valid = np.asarray(valid, bool)
    if valid.ndim < 1 or valid.shape[-1] == 0:
        raise ValueError(f"valid must be (..., F) bool with F >= 1, got shape {valid.shape}")
    if not valid.any(axis=-1).all():
        raise PartError("no valid frame")
    count = valid.shape[-1]
    frames = np.arange(count)
    before = np.maximum.accumulate(np.where(valid, frames, -count), axis=-1)  # last valid <= f (far left if none)
    after = np.minimum.accumulate(np.where(valid, frames, 2 * count)[..., ::-1], axis=-1)[..., ::-1]
    return np.where(frames - before <= after - frames, before, after).astype(np.int64)


def joint_valid(keypoints: np.ndarray) -> np.ndarray:
    """(..., 2) -> (...) bool: x and y both finite (two elementwise tests beat a reduction over a 2-long axis)."""
    return np.isfinite(keypoints[..., 0]) & np.isfinite(keypoints[..., 1])


def body_heights(keypoints: np.ndarray) -> np.ndarray:
    """(F, V, 2) pixels, NaN = missing -> (F,) float64 y-extent of the valid joints; NaN where fewer than two
    joints are valid or the extent is zero."""
    kp = np.asarray(keypoints, np.float64)
    valid = joint_valid(kp)
    y = np.where(valid, kp[..., 1], np.nan)
    counts = valid.sum(axis=1)
    height = np.fmax.reduce(y, axis=1) - np.fmin.reduce(y, axis=1)  # NaN-skipping, NaN for all-NaN rows
    return np.where((counts >= 2) & (height > 0), height, np.nan)


def hand_boxes(keypoints: np.ndarray, joints: Sequence[int], hand_scale: float, positions: np.ndarray,
               heights: np.ndarray | None = None) -> np.ndarray:
    """Square hand boxes at the given frame positions -> (T, 4) float64 (x0, y0, x1, y1).

    keypoints: (F, V, 2) one actor, NaN = missing; joints: the hand's joint indices; positions: (T,) indices
    into the F frames; heights: body_heights(keypoints) when already computed. Frames without a box borrow the
    nearest frame's (see the module docstring).
    """
    kp = np.asarray(keypoints, np.float64)
    hand = kp[:, list(joints)]
    hand_valid = joint_valid(hand)
    heights = body_heights(kp) if heights is None else heights
    usable = hand_valid.any(axis=1) & np.isfinite(heights)
    try:
        source = nearest_valid_index(usable)[np.asarray(positions)]
    except PartError:
        raise PartError(f"hand joints {[j + 1 for j in joints]} (1-based) are never tracked in a frame with a "
                        f"measurable body height") from None
    counts = hand_valid[source].sum(axis=1, keepdims=True)
    centre = np.where(hand_valid[source][..., None], hand[source], 0.0).sum(axis=1) / counts
    half = np.maximum(hand_scale * heights[source], MIN_SIDE) / 2
    return np.concatenate([centre - half[:, None], centre + half[:, None]], axis=1)


def body_boxes(keypoints: np.ndarray, body_padding: float, positions: np.ndarray,
               heights: np.ndarray | None = None) -> np.ndarray:
    """Padded, squared full-body boxes at the given frame positions -> (T, 4) float64 (x0, y0, x1, y1).

    keypoints: (F, V, 2) one actor, NaN = missing; positions: (T,) indices into the F frames. Per frame the
    same box as har.transforms.box.person_box(keypoints[f], body_padding, hw_ratio=1) (a test pins this),
    computed for all frames at once.
    """
    kp = np.asarray(keypoints, np.float64)
    heights = body_heights(kp) if heights is None else heights
    try:
        source = nearest_valid_index(np.isfinite(heights))[np.asarray(positions)]
    except PartError:
        raise PartError("no frame has two or more tracked joints to frame the body") from None
    chosen = kp[source]  # (T, V, 2)
    low, high = np.fmin.reduce(chosen, axis=1), np.fmax.reduce(chosen, axis=1)  # NaN-skipping
    centre = (low + high) / 2
    half = (high - low) / 2 * (1 + body_padding)
    half = np.maximum(np.maximum(half[:, 0], half[:, 1]), MIN_BODY_SIDE / 2)[:, None]  # squared
    return np.concatenate([centre - half, centre + half], axis=1)


def part_boxes(keypoints: np.ndarray, parts: Sequence[tuple[str, Sequence[int]]], hand_scale: float,
               body_padding: float, positions: np.ndarray) -> np.ndarray:
    """Crop boxes of each part at each wanted frame -> (P, T, 4) float64.

    keypoints: (F, V, 2) one actor in video pixels, NaN = missing. parts: (name, joints) pairs such as
    har.layout.CROP_PARTS; a part whose joints are all the body's joints is framed as the full body, any other
    as a hand. positions: (T,) indices into the F frames. Raises PartError naming the part that is never usable.
    """
    if hand_scale <= 0 or body_padding < 0:
        raise ValueError(f"need hand_scale > 0 and body_padding >= 0, got {hand_scale}, {body_padding}")
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (F, V, 2), got shape {kp.shape}")
    heights = body_heights(kp)
    boxes = []
    for name, joints in parts:
        try:
            if len(joints) == kp.shape[1]:
                boxes.append(body_boxes(kp, body_padding, positions, heights))
            else:
                boxes.append(hand_boxes(kp, joints, hand_scale, positions, heights))
        except PartError as error:
            raise PartError(f"part {name!r}: {error}") from None
    return np.stack(boxes)
