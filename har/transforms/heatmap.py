"""PoseC3D pseudo-heatmaps from 2D keypoints (DESIGN.md §4), vectorised.

Semantics (PYSKL `GeneratePoseTarget`, written from its published description):
- joint channel v, frame t: for every person whose joint is drawable, a Gaussian
  `exp(-((x-mux)^2 + (y-muy)^2) / (2 sigma^2)) * score` evaluated only inside the truncated window
  `[max(int(mu - 3 sigma), 0), min(int(mu + 3 sigma) + 1, size))` per axis (zero elsewhere); persons are merged
  by element-wise max.
- limb channel e = (a, b) (optional, appended after the V joint channels): `exp(-d^2 / (2 sigma^2)) *
  min(score_a, score_b)` with d the distance from the pixel to the segment a-b, evaluated inside the window
  spanning both end points +- 3 sigma (same truncation). A limb shorter than 1 pixel (squared length < 1) is
  drawn as the joint Gaussian of its start point a with a's score, as PYSKL does.
- a joint is missing when x or y is NaN, or x == y == 0 (zero-padded persons): it draws nothing (PYSKL would draw
  a blob at the origin). Joints and limbs with a score below 1e-3 are skipped.
Window bounds are computed in float32 like PYSKL (float32 keypoints minus the scalar 3 sigma), so truncation
edge cases land on the same pixels. Pixel (i, j) of a map is the point x = j, y = i of the keypoint frame.

Speed: each drawable joint contributes a small (ky, kx) patch, built as the outer product of two 1-D Gaussian
windows (the Gaussian is separable) and scattered with fancy indexing: no Python loop over joints or frames. Only
the windows are written (heatmaps are ~1 % non-zero): the first person's patches are assigned straight into the
zero output, later persons' merged by max over their own window pixels, never by a pass over dense planes. Limb
windows differ in size, so their pixels are enumerated back to back and evaluated as flat arrays (in float64:
float32 distances lose ~3e-6 on long limbs). What remains is mostly zero-filling the fresh output (20 MB for
25 x 48 x 64 x 64 float32, ~1 ms; the per-joint loop pays it too): dtype=np.uint8 yields the quantised maps
(round(255 * h)) directly, with a 4x smaller fill and no float pass over the whole array.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from har.layout import LAYOUTS, layout_for_joints

SCORE_EPS = 1e-3  # joints/limbs with a lower score are not drawn
LIMB_PIXELS = 1 << 14  # window pixels per vectorised limb batch: keeps the float64 temporaries in cache


def missing_joints(keypoints: np.ndarray) -> np.ndarray:
    """(..., 2) coordinates -> (...) bool: True where x or y is NaN, or both are exactly 0."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    return np.isnan(x) | np.isnan(y) | ((x == 0) & (y == 0))


def default_edges(num_joints: int) -> tuple[tuple[int, int], ...]:
    """Bones of the known layout with this many joints (NTU_EDGES for 25, COCO_EDGES for 17)."""
    return LAYOUTS[layout_for_joints(num_joints)]["edges"]


def gaussian_heatmaps(keypoints: np.ndarray, scores: np.ndarray | None, size: tuple[int, int],
                      sigma: float = 0.6, *, with_limbs: bool = False,
                      edges: Sequence[tuple[int, int]] | None = None, dtype: type = np.float32) -> np.ndarray:
    """Pseudo-heatmaps of all joints (and optionally limbs) of all persons and frames.

    keypoints: (M, T, V, 2) float pixels in the heatmap frame (computed in float32); NaN or (0, 0) = missing.
    scores: (M, T, V) float confidences, or None (= 1 for every present joint).
    size: (H, W) of the maps. edges: bones for the limb channels (default: the layout's, see default_edges).
    dtype: np.float32, or np.uint8 for maps quantised to round(255 * h) (identical to quantising the float maps,
    since rounding commutes with the max over persons; 4x less memory to fill, which is most of the cost).
    uint8 needs scores <= 1.
    Returns (V, T, H, W) dtype, or (V + E, T, H, W) with with_limbs (joint channels first, then limbs).
    Raises ValueError on bad shapes, infinite coordinates, NaN scores of present joints or a bad sigma/size.
    """
    sigma = float(sigma)  # a Python float keeps the window arithmetic in float32 (a numpy float64 would not)
    kp, drawable, sc = _checked_inputs(keypoints, scores, size, sigma)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.uint8):
        raise ValueError(f"dtype must be float32 or uint8, got {dtype}")
    if dtype == np.uint8 and (sc[drawable] > 1).any():
        raise ValueError("scores above 1 cannot be quantised to uint8 heatmaps (value = round(255 * h), h <= 1)")
    num_joints = kp.shape[2]
    bones = _checked_edges(edges, num_joints) if with_limbs else ()
    height, width = int(size[0]), int(size[1])
    channels, frames = num_joints + len(bones), kp.shape[1]
    plane = (frames, height, width)
    # Entries person by person, and each person's planes (v * frames + t) in memory order.
    entry = np.flatnonzero(drawable.transpose(0, 2, 1))  # (m * V + v) * T + t
    person, frame_channel = np.divmod(entry, num_joints * frames)
    centres = kp.transpose(0, 2, 1, 3).reshape(-1, 2)[entry]
    joints = _point_patches(plane, person, frame_channel, centres, sc.transpose(0, 2, 1).reshape(-1)[entry],
                            sigma, dtype)
    out = np.zeros((channels, frames, height, width), dtype=dtype)
    buf = out.reshape(-1)  # a view: scatters write into out
    _scatter_points(buf, *joints)
    if bones:
        _draw_limbs(buf, plane, kp, sc, drawable, bones, num_joints, sigma)
    return out


# --- input checks ------------------------------------------------------------------------------------------
def _checked_inputs(keypoints, scores, size, sigma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> keypoints (M, T, V, 2) float32, drawable (M, T, V) bool, scores (M, T, V) float32."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 4 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (M, T, V, 2) pixel coordinates, got shape {kp.shape}")
    if np.isinf(kp).any():
        raise ValueError("keypoints contain infinite coordinates (use NaN or (0, 0) for missing joints)")
    if len(size) != 2 or min(int(size[0]), int(size[1])) <= 0:
        raise ValueError(f"size must be (H, W) with positive entries, got {size!r}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    present = ~missing_joints(kp)
    if scores is None:
        sc = np.ones(kp.shape[:3], dtype=np.float32)
    else:
        sc = np.asarray(scores, dtype=np.float32)
        if sc.shape != kp.shape[:3]:
            raise ValueError(f"scores must have shape {kp.shape[:3]} (M, T, V) to match keypoints, got {sc.shape}")
        if np.isnan(sc[present]).any():
            raise ValueError("scores are NaN for some present joints")
    return kp, present & (sc >= SCORE_EPS), sc


def _checked_edges(edges, num_joints: int) -> tuple[tuple[int, int], ...]:
    bones = tuple(default_edges(num_joints) if edges is None else ((int(a), int(b)) for a, b in edges))
    bad = [e for e in bones if not (0 <= e[0] < num_joints and 0 <= e[1] < num_joints)]
    if bad:
        raise ValueError(f"edges {bad} refer to joints outside 0..{num_joints - 1}")
    return bones


# --- drawing -----------------------------------------------------------------------------------------------
def _window(low: np.ndarray, high: np.ndarray, sigma: float, limit) -> tuple[np.ndarray, np.ndarray]:
    """PYSKL's truncated window [max(int(low - 3s), 0), min(int(high + 3s) + 1, limit)) per entry, as int64.

    low, high: (N,) float32 with an int limit, or (A, N) with limits (A, 1) per axis. Clipping before the int
    cast keeps far-away joints (empty windows) from overflowing.
    """
    start = np.clip(np.trunc(low - 3 * sigma), 0, limit).astype(np.int64)
    stop = np.clip(np.trunc(high + 3 * sigma) + 1, 0, limit).astype(np.int64)
    return start, np.maximum(stop, start)


def _window_axes(centres: np.ndarray, limits: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """1-D Gaussian windows along each axis: centres (A, N) float32 coordinates along A axes of sizes limits
    (A, 1) -> pixel positions (A, K, N) int64 and values (A, K, N) float32, exp(-(p - mu)^2 / 2 sigma^2) inside
    PYSKL's truncated window and 0 outside; K = the widest window.

    Entries run along the LAST axis throughout, so numpy's inner loops are N long rather than K (~5) long.
    The K positions of an entry start at min(start, limit - K), so they always lie inside the image (K <= limit
    because windows are clipped to it) and are distinct: a scatter needs no bounds masking, and the positions
    outside the window simply receive a zero that cannot raise the running max.
    """
    start, stop = _window(centres, centres, sigma, limits)
    width = max(int((stop - start).max(initial=0)), 1)
    positions = np.minimum(start, limits - width)[:, None, :] + np.arange(width)[:, None]
    inside = (positions >= start[:, None, :]) & (positions < stop[:, None, :])
    offsets = positions.astype(np.float32) - centres[:, None, :]
    return positions, np.exp(np.square(offsets) * np.float32(-0.5 / sigma**2)) * inside


def _point_patches(plane, person, frame_channel, centres, values, sigma, dtype) -> tuple:
    """Joint Gaussians: entry i draws at centres[i] (N, 2) with peak values[i] into plane frame_channel[i].

    Returns (flat indices (N, ky kx) into the flattened maps, patch values (N, ky kx) in dtype, [(lo, hi)] entry
    ranges of each person), for _scatter_points. Computed before the output exists: the 20 MB zero fill would
    push these small arrays out of the cache halfway. person: (N,) sorted.
    """
    _, height, width = plane
    mu, limits = np.ascontiguousarray(centres.T), np.array([[width], [height]])
    if 6 * sigma + 2 <= min(height, width):  # every window fits both axes: x and y in the same numpy calls
        (xs, ys), (gx, gy) = _window_axes(mu, limits, sigma)
    else:
        (xs,), (gx,) = _window_axes(mu[:1], limits[:1], sigma)
        (ys,), (gy,) = _window_axes(mu[1:], limits[1:], sigma)
    gy = gy * values  # separable Gaussian: the (ky, kx) patch is the outer product of a y and an x window
    ky, kx = len(ys), len(xs)
    patch = _quantised(gy[:, None, :] * gx[None, :, :], dtype).reshape(ky * kx, -1)
    # Entry-major (N, ky kx) patches and indices: each entry's pixels are a few consecutive rows of its plane, and
    # one person's entries form a contiguous block (fancy indexing with strided arrays is several times slower).
    patch = np.ascontiguousarray(patch.T)
    corner = (frame_channel * height + ys[0]) * width + xs[0]
    flat = corner[:, None] + (np.arange(ky)[:, None] * width + np.arange(kx)).reshape(-1)
    bounds = (np.flatnonzero(np.diff(person)) + 1).tolist()
    return flat, patch, list(zip([0] + bounds, bounds + [person.size]))


def _scatter_points(buf, flat, patch, persons) -> None:
    """Write _point_patches into buf. The planes drawn into must still be all zero (joint channels, and limb
    channels before their segments): the first person's patches are then simply assigned, and only later
    persons' patches are merged by max, which needs a read of what is there."""
    for rank, (lo, hi) in enumerate(persons):
        if rank == 0:  # zeros underneath: no read needed
            buf[flat[lo:hi]] = patch[lo:hi]
        else:
            _max_into(buf, flat[lo:hi], patch[lo:hi])


def _quantised(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float32 values as stored in a dtype buffer: unchanged for float32, round(255 * v) for uint8."""
    values = values.astype(np.float32, copy=False)
    if dtype == np.uint8:
        return np.rint(values * np.float32(255.0)).astype(np.uint8)
    return values


def _max_into(buf: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """buf[index] = max(buf[index], values), values already in buf's dtype (see _quantised); index must not
    repeat (one person's pixels).

    Entries of one person hit distinct (channel, frame) planes, so their indices never collide; entries of
    different persons may, hence callers loop over persons (M is small).
    """
    buf[index] = np.maximum(buf.take(index), values)


def _draw_limbs(buf, plane, kp, sc, drawable, bones, num_joints, sigma) -> None:
    """Limb channels num_joints + e: distance-to-segment Gaussians (see the module docstring)."""
    frames = plane[0]
    a_idx, b_idx = (np.array(ends, dtype=np.int64) for ends in zip(*bones))
    m, t, e = np.nonzero(drawable[:, :, a_idx] & drawable[:, :, b_idx])  # (M, T, E) order: persons sorted
    start, end = kp[m, t, a_idx[e]], kp[m, t, b_idx[e]]
    start_value, end_value = sc[m, t, a_idx[e]], sc[m, t, b_idx[e]]
    channel = (num_joints + e) * frames + t
    diff = start - end
    short = (diff[:, 0] ** 2 + diff[:, 1] ** 2) < 1  # PYSKL draws the start joint instead of a segment
    _scatter_points(buf, *_point_patches(plane, m[short], channel[short], start[short], start_value[short], sigma,
                                         buf.dtype))
    keep = ~short
    _draw_segments(buf, plane, m[keep], channel[keep], start[keep], end[keep],
                   np.minimum(start_value, end_value)[keep], sigma)


def _draw_segments(buf, plane, person, frame_channel, start, end, values, sigma) -> None:
    """Segment Gaussians for (N,) limbs with end points start, end (N, 2) float32, squared length >= 1.

    Limb windows vary a lot in size, so instead of padding them to a common patch every limb's window pixels
    are laid out back to back ("ragged") and computed as 1-D arrays, in chunks of about LIMB_PIXELS pixels.
    Distances are computed in float64: float32 loses ~3e-6 on long limbs.
    """
    _, height, width = plane
    x0, x1 = _window(np.minimum(start[:, 0], end[:, 0]), np.maximum(start[:, 0], end[:, 0]), sigma, width)
    y0, y1 = _window(np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1]), sigma, height)
    area = (x1 - x0) * (y1 - y0)
    a, b = start.astype(np.float64), end.astype(np.float64)
    limb_params = (a[:, 0], a[:, 1], b[:, 0] - a[:, 0], b[:, 1] - a[:, 1], values.astype(np.float64))
    total = np.cumsum(area)
    cuts = np.searchsorted(total, np.arange(LIMB_PIXELS, total[-1] if total.size else 0, LIMB_PIXELS), "right")
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, area.size]):
        if area[lo:hi].sum() == 0:
            continue
        limb, ys, xs = _ragged_windows(np.arange(lo, hi), x0, x1, y0, y1)
        ax, ay, ex, ey, value = (param[limb] for param in limb_params)
        dx, dy = xs - ax, ys - ay
        # Nearest point of the segment: projection parameter clipped to [0, 1] (0 = start, 1 = end).
        along = np.clip((dx * ex + dy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        d2 = (dx - along * ex) ** 2 + (dy - along * ey) ** 2
        value = _quantised(value * np.exp(d2 * (-0.5 / sigma**2)), buf.dtype)
        flat = (frame_channel[limb] * height + ys) * width + xs
        bounds = np.flatnonzero(np.diff(person[limb])) + 1
        for p_lo, p_hi in zip(np.r_[0, bounds], np.r_[bounds, limb.size]):
            _max_into(buf, flat[p_lo:p_hi], value[p_lo:p_hi])


def _ragged_windows(limbs, x0, x1, y0, y1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pixel of the windows of `limbs`, window after window, row by row -> (limb, y, x), each (P,) int64."""
    rows = y1[limbs] - y0[limbs]
    row_limb = np.repeat(limbs, rows)
    row_y = y0[row_limb] + np.arange(row_limb.size) - np.repeat(np.cumsum(rows) - rows, rows)
    row_len = x1[row_limb] - x0[row_limb]
    limb = np.repeat(row_limb, row_len)
    x = x0[limb] + np.arange(limb.size) - np.repeat(np.cumsum(row_len) - row_len, row_len)
    return limb, np.repeat(row_y, row_len), x
