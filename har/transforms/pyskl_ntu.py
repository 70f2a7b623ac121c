"""PYSKL's NTU RGB+D body selection (`tools/data/ntu_preproc.py`, DESIGN.md §3), rule for rule, on body tracks.

PYSKL builds `ntu60_3danno.pkl` / `ntu120_3danno.pkl` from the raw `.skeleton` files like this:
- frames with no body are skipped: its frame counter only counts frames that hold a body;
- a body's frames are appended in file order and laid out contiguously from the frame of its first appearance
  (a body that leaves and comes back is NOT re-aligned to its later frames);
- motion = sum over x, y, z of the variance of ALL its joint positions, pooled over frames and joints (float32);
- tracks are sorted by motion, most moving first (a stable sort: ties keep the order of first appearance). A file
  with one track returns it as is. Otherwise tracks of <= 11 frames are dropped; if one is left it is returned as
  is. Otherwise a frame is valid for a track when its x-spread <= 0.8 x its y-spread; a track with
  1 - valid/frames >= 0.69754 is dropped, the others with invalid frames get motion = min(motion, motion over the
  valid frames); the survivors are sorted again. One survivor is returned as is;
- with several: the first goes to slot 0; each next one goes to slot 0 when it does not overlap slot 0's span
  (the hull [first start, last end) of what slot 0 holds), else to slot 1 when it does not overlap slot 1's span,
  else it is dropped. Slot 1's span starts as [0, 0) and its start stays min(start, 0) = 0, so slot 1 only ever
  accepts tracks that start at or after the end of what it holds;
- leading and trailing frames whose summed |value| over both slots is < 1e-3 are trimmed (never middle ones);
- the slots swap when slot 0's joint 2 (spine mid) is zero in the first frame and slot 1's is not.
PYSKL fails on a file where no track survives (an assertion); here that is a PysklRuleError.

The result is a `PysklLayout`, a plan that places the rows of the chosen tracks, so that the same selection lays
out any per-row field (xyz for 3D, color_xy and scores for 2D).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from har.errors import HarError
from har.transforms.denoise import Track

MIN_TRACK_FRAMES = 11  # tracks of at most this many frames are noise
SPREAD_RATIO = 0.8  # a frame is valid when its x-spread <= SPREAD_RATIO * y-spread
NOISY_RATIO = 0.69754  # a track whose fraction of invalid frames reaches this is dropped
ZERO = 1e-3  # PYSKL's eps: a frame is empty when its summed |value| is below it
SPINE_MID = 1  # the joint whose presence in the first frame decides the slot order (0-based)


class PysklRuleError(HarError, ValueError):
    """PYSKL's preprocessing has no output for these tracks (it would stop with an error)."""


@dataclass(frozen=True)
class Placement:
    """Rows [0, count) of track `track` go to slot `slot`, frames [start, start + count) of the output."""
    track: int
    slot: int
    start: int


@dataclass(frozen=True)
class PysklLayout:
    """Where each kept track's rows go in PYSKL's (M, T, ...) array; M is 1 (a lone track) or 2."""
    placements: tuple[Placement, ...]
    num_slots: int
    num_frames: int


def pyskl_motion(xyz: np.ndarray) -> np.float32:
    """PYSKL's motion: per-axis variance of all joint positions pooled over frames and joints, summed.
    xyz: (F, V, 3) float32."""
    return np.sum(np.var(xyz.reshape(-1, 3), axis=0))


def valid_frames(xyz: np.ndarray) -> np.ndarray:
    """(F,) bool: x-spread <= 0.8 x y-spread, in float32 as numpy 2 evaluates PYSKL's test. xyz: (F, V, 3)."""
    spread = xyz.max(axis=1) - xyz.min(axis=1)
    return spread[:, 0] <= np.float32(SPREAD_RATIO) * spread[:, 1]


def body_frame_starts(tracks: Sequence[Track]) -> list[int]:
    """Each track's start in PYSKL's frame counter: the rank of its first frame among the frames with a body."""
    occupied = np.unique(np.concatenate([t.frames for t in tracks]))
    return [int(np.searchsorted(occupied, t.frames[0])) for t in tracks]


def _spread_denoise(tracks: Sequence[Track], order: list[int], motion: dict[int, np.float32]) -> list[int]:
    kept = []
    for i in order:
        valid = valid_frames(tracks[i].xyz)
        count, total = int(valid.sum()), len(valid)
        if count == total:
            kept.append(i)
        elif not 1 - count / total >= NOISY_RATIO:
            motion[i] = min(motion[i], pyskl_motion(tracks[i].xyz[valid]))
            kept.append(i)
    if not kept:
        raise PysklRuleError(f"every one of {len(order)} tracks of > {MIN_TRACK_FRAMES} frames has >= "
                             f"{NOISY_RATIO:.3%} frames wider than tall")
    return sorted(kept, key=lambda i: -motion[i])


def select_tracks(tracks: Sequence[Track]) -> list[int]:
    """Indices of the tracks PYSKL keeps, in its final order (the first one alone when it returns one track)."""
    if not tracks:
        raise PysklRuleError("no body in any frame")
    motion = {i: pyskl_motion(t.xyz) for i, t in enumerate(tracks)}
    order = sorted(range(len(tracks)), key=lambda i: -motion[i])
    if len(order) == 1:
        return order
    order = [i for i in order if len(tracks[i].frames) > MIN_TRACK_FRAMES]
    if len(order) == 1:
        return order
    if not order:
        raise PysklRuleError(f"all {len(tracks)} tracks have <= {MIN_TRACK_FRAMES} frames")
    return _spread_denoise(tracks, order, motion)


def _assign_slots(tracks: Sequence[Track], order: list[int], starts: list[int]) -> list[Placement]:
    first = order[0]
    s1, e1, s2, e2 = starts[first], starts[first] + len(tracks[first].frames), 0, 0
    placements = [Placement(first, 0, s1)]
    for i in order[1:]:
        s, e = starts[i], starts[i] + len(tracks[i].frames)
        if max(s1, s) >= min(e1, e):
            placements.append(Placement(i, 0, s))
            s1, e1 = min(s, s1), max(e, e1)
        elif max(s2, s) >= min(e2, e):
            placements.append(Placement(i, 1, s))
            s2, e2 = min(s, s2), max(e, e2)
    return placements


def _trim_bounds(keypoint: np.ndarray) -> tuple[int, int]:
    """First and one-past-last frame whose summed |value| over all slots is >= 1e-3. keypoint: (M, T, V, C)."""
    start, stop = 0, keypoint.shape[1]
    while start < stop and np.sum(np.abs(keypoint[:, start])) < ZERO:
        start += 1
    while stop > start and np.sum(np.abs(keypoint[:, stop - 1])) < ZERO:
        stop -= 1
    if start == stop:
        raise PysklRuleError("every frame of the kept tracks is all zero")
    return start, stop


def pyskl_layout(tracks: Sequence[Track]) -> PysklLayout:
    """PYSKL's choice and placement of the tracks of one sample (module docstring). tracks: in order of first
    appearance, each with frames (F,) increasing source frame indices and xyz (F, V, 3) float32."""
    order = select_tracks(tracks)
    if len(order) == 1:
        return PysklLayout((Placement(order[0], 0, 0),), 1, len(tracks[order[0]].frames))
    starts = body_frame_starts(tracks)
    placements = _assign_slots(tracks, order, starts)
    total = max(starts[i] + len(tracks[i].frames) for i in order)
    keypoint = lay_out(PysklLayout(tuple(placements), 2, total), [t.xyz for t in tracks])
    start, stop = _trim_bounds(keypoint)
    first = keypoint[:, start, SPINE_MID]
    swap = np.sum(np.abs(first[0])) < ZERO and np.sum(np.abs(first[1])) > ZERO
    placements = [Placement(p.track, 1 - p.slot if swap else p.slot, p.start - start) for p in placements]
    return PysklLayout(tuple(placements), 2, stop - start)


def lay_out(layout: PysklLayout, rows: Sequence[np.ndarray], dtype=np.float32) -> np.ndarray:
    """(M, T, ...) array of a per-row field, zero where no track is placed. rows: one (F_k, ...) array per track
    (the same tracks pyskl_layout saw); rows outside [0, T) (trimmed ends) are cut off."""
    sample = rows[layout.placements[0].track]
    out = np.zeros((layout.num_slots, layout.num_frames, *sample.shape[1:]), dtype)
    for p in layout.placements:
        values = rows[p.track]
        low, high = max(p.start, 0), min(p.start + len(values), layout.num_frames)
        if high > low:
            out[p.slot, low:high] = values[low - p.start:high - p.start]
    return out
