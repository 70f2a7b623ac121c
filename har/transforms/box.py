"""Person-centric box (PYSKL `PoseCompact`, DESIGN.md §4), cropping images to boxes and mapping keypoints into them.

Coordinates are pixels with pixel (row i, column j) centred on the point x = j, y = i (the heatmap convention of
har.transforms.heatmap). A box (x0, y0, x1, y1) is shown in an (h, w) crop so that crop pixel (r, c) samples
the image at x = x0 + c * (x1 - x0) / w, y = y0 + r * (y1 - y0) / h: exactly where keypoints_to_box_frame maps
a keypoint, so heatmaps of mapped keypoints line up with the cropped frames. Crop pixels whose sample point lies
outside the image (beyond half a pixel past its edge pixels) are black (0); the ones inside near the edge see the
edge extended, so a box inside the image never shows black.

Cropping is one inverse bilinear warp. Where a box shrinks by 2x or more along an axis (step = image pixels per
crop pixel >= 2), the image is first averaged down along that axis by k = 2^floor(log2(step)) in exact halvings
(OpenCV's fast 2x INTER_AREA path, blocks on a grid anchored at the image origin), so the warp shrinks by less
than 2x more: antialiased, no aliasing however large the shrink. plan_crops + cut_frame cut many boxes of
several frames with the per-box arithmetic done once, vectorised, and each frame halved once over the union of
its boxes; every box is then warped from a view holding exactly the pixels crop_and_resize (the one-box form)
would use, so both give the same bytes (OpenCV's warp computes sample positions in float32: shifting the
source by whole pixels would change low bits, so views, not offsets, keep the bytes equal).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]
_INVERSE_BILINEAR = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP


def _valid_joints(keypoints: np.ndarray) -> np.ndarray:
    """(..., 2) -> (...) bool: not NaN in x or y, and not the (0, 0) padding."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    return ~(np.isnan(x) | np.isnan(y) | ((x == 0) & (y == 0)))


def person_box(keypoints: np.ndarray, padding: float = 0.25, min_size: float = 10.0,
               hw_ratio: float | None = 1.0) -> Box:
    """Box around all valid joints of all persons and frames, PoseCompact style -> (x0, y0, x1, y1) float.

    keypoints: (M, T, V, 2) pixels (any leading shape works), NaN or (0, 0) = missing.
    The tight box is scaled by (1 + padding) about its centre; with hw_ratio (height / width, 1 = square) the
    shorter side then grows about the centre to match the ratio; finally each side is at least min_size pixels
    (PYSKL instead leaves the whole image when the tight box is under its 10-pixel threshold). The box may
    extend beyond the image: croppers pad. Raises ValueError when no joint is valid or on infinite coordinates.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (..., 2) pixel coordinates, got shape {kp.shape}")
    if padding < 0 or min_size < 0 or (hw_ratio is not None and not hw_ratio > 0):
        raise ValueError(f"need padding >= 0, min_size >= 0, hw_ratio > 0 or None; got {padding}, {min_size}, "
                         f"{hw_ratio}")
    points = kp[_valid_joints(kp)]
    if points.size == 0:
        raise ValueError("person_box: no valid joint (every keypoint is NaN or (0, 0))")
    if not np.isfinite(points).all():
        raise ValueError("person_box: keypoints contain infinite coordinates")
    (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    half_w, half_h = (right - left) / 2 * (1 + padding), (bottom - top) / 2 * (1 + padding)
    if hw_ratio is not None:
        half_h = max(half_h, hw_ratio * half_w)
        half_w = max(half_w, half_h / hw_ratio)
    half_w, half_h = max(half_w, min_size / 2), max(half_h, min_size / 2)
    return (float(centre_x - half_w), float(centre_y - half_h), float(centre_x + half_w), float(centre_y + half_h))


def _checked_box(box, out_size) -> tuple[float, float, float, float, int, int]:
    x0, y0, x1, y1 = (float(v) for v in box)
    out_h, out_w = (int(v) for v in out_size)
    if not (np.isfinite([x0, y0, x1, y1]).all() and x1 > x0 and y1 > y0):
        raise ValueError(f"box must be finite (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {box!r}")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"out_size must be (h, w) with positive entries, got {out_size!r}")
    return x0, y0, x1, y1, out_h, out_w


def keypoints_to_box_frame(keypoints: np.ndarray, box: Box, out_size: tuple[int, int]) -> np.ndarray:
    """Map pixel keypoints into the (h, w) crop of box: x' = (x - x0) * w / (x1 - x0), y' likewise.

    keypoints: (..., 2) float. Returns float32 of the same shape; missing joints (NaN or (0, 0)) are returned
    unchanged, so they stay missing (a valid joint landing exactly on the crop origin would then read as missing;
    with float coordinates that needs an exact hit).
    """
    x0, y0, x1, y1, out_h, out_w = _checked_box(box, out_size)
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim < 1 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (..., 2) pixel coordinates, got shape {kp.shape}")
    mapped = (kp - (x0, y0)) * (out_w / (x1 - x0), out_h / (y1 - y0))
    return np.where(_valid_joints(kp)[..., None], mapped, kp).astype(np.float32)


def _checked_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.dtype != np.uint8 or image.shape[2] < 1:
        raise ValueError(f"image must be (H, W, C) uint8, got shape {image.shape} dtype {image.dtype}")


def crop_and_resize(image: np.ndarray, box: Box, out_size: tuple[int, int],
                    antialias: bool = True) -> np.ndarray:
    """Crop box out of image and resize it to out_size; black (0) where the crop samples outside the image.

    image: (H, W, C) uint8. out_size: (h, w). Returns (h, w, C) uint8. Geometry, edges and antialiasing: see the
    module docstring; antialias=False skips the averaging (one bilinear warp: it reads 4 pixels per crop pixel,
    so a large shrink aliases). The one-box reference of plan_crops / cut_frame, which cut many boxes at once.
    """
    _checked_image(image)
    _checked_box(box, out_size)
    plan = plan_crops(np.asarray([box], np.float64), out_size, np.zeros(1, np.int64), image.shape[:2], antialias)
    return next(cut_frame(image, plan, 0))[1]


@dataclass(frozen=True)
class CropPlan:
    """How to cut B boxes out of the frames of one video (all frames of one size). See plan_crops.

    frames: (B,) the frame of each box; sizes: (B, 2) crop (h, w); levels: (B, 2) halvings along (x, y);
    spans: (B, 4) int64 (left, top, right, bottom) image pixels a reduced box's warp reads, whole blocks clipped
    to the image's blocks (empty: the crop is black); matrices: (B, 2, 3) inverse warp matrices, in pixels of the
    box's level counted from its span's corner (from the image's corner for level (0, 0)); edge: (B,) the warp
    may read past its source (the image's edge is then extended); inside: (B, 4) (column, row, column end, row
    end) of the crop pixels sampling inside the image, the rest is black; regions: frame -> (left, top, right,
    bottom), the union of its reduced boxes' spans on the grid of its largest blocks; jobs: frame -> the same
    per box as Python values, (box, matrix, (w, h), (level x, level y) or None for (0, 0), span or None when
    empty, OpenCV border mode, inside or None when all inside), in box order.
    """
    frames: np.ndarray
    sizes: np.ndarray
    levels: np.ndarray
    spans: np.ndarray
    matrices: np.ndarray
    edge: np.ndarray
    inside: np.ndarray
    regions: dict[int, tuple[int, int, int, int]]
    jobs: dict[int, list[tuple]]


def reduction_levels(steps: np.ndarray, antialias: bool = True) -> np.ndarray:
    """(..., 2) image pixels per crop pixel along (x, y) -> (..., 2) int64 halvings: floor(log2(step)) where
    step >= 2, else 0 (all 0 without antialias). frexp gives the binary exponent exactly (log2 could round)."""
    steps = np.asarray(steps, np.float64)
    if not antialias:
        return np.zeros(steps.shape, np.int64)
    return np.maximum(np.frexp(steps)[1] - 1, 0).astype(np.int64)


def plan_crops(boxes: np.ndarray, sizes, frames: np.ndarray, image_size: tuple[int, int],
               antialias: bool = True) -> CropPlan:
    """Plan the crops of boxes (B, 4) (x0, y0, x1, y1) at sizes (h, w) (one pair, or (B, 2)) out of frames
    (B,) ints of image_size (H, W) pixels. Raises ValueError on a box that is not finite with x1 > x0, y1 > y0,
    or a size below 1."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    sizes = np.broadcast_to(np.asarray(sizes, np.int64).reshape(-1, 2), (len(boxes), 2))
    if not (np.isfinite(boxes).all() and (boxes[:, 2:] > boxes[:, :2]).all()):
        raise ValueError(f"boxes must be finite (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {boxes.tolist()}")
    if (sizes < 1).any():
        raise ValueError(f"crop sizes must be (h, w) with positive entries, got {sizes.tolist()}")
    image_wh = np.asarray(image_size[::-1], np.int64)
    out_wh, first = sizes[:, ::-1], boxes[:, :2]
    steps = (boxes[:, 2:] - first) / out_wh
    last = first + (out_wh - 1) * steps
    levels = reduction_levels(steps, antialias)
    block = np.left_shift(1, levels)
    # Blocks the warp may read: those under the first and last sample, one more each side (float rounding of
    # the sample position), clipped to the blocks covering the image.
    covered = -(-image_wh // block) * block
    low = (np.floor((first + 0.5) / block - 0.5) - 1) * block
    high = (np.floor((last + 0.5) / block - 0.5) + 3) * block
    reduced = levels.any(axis=1)
    edge = np.where(reduced[:, None], (low < 0) | (high > covered), (first < 1) | (last > image_wh - 2)).any(axis=1)
    low, high = np.clip(low, 0, covered).astype(np.int64), np.clip(high, 0, covered).astype(np.int64)
    # A block average of pixels u*k .. u*k+k-1 sits at image coordinate u*k + (k-1)/2.
    matrices = np.zeros((len(boxes), 2, 3))
    matrices[:, 0, 0], matrices[:, 1, 1] = (steps / block).T
    matrices[:, :, 2] = np.where(reduced[:, None], (first - low + 0.5) / block - 0.5, first)
    # Crop pixels whose sample point lies in the image's extent [-0.5, size - 0.5).
    inside = np.clip(np.ceil(np.stack([-0.5 - first, image_wh - 0.5 - first]) / steps), 0, out_wh)
    inside = np.concatenate(inside.astype(np.int64), axis=1)
    frames = np.asarray(frames, np.int64).reshape(len(boxes))
    spans = np.concatenate([low, high], axis=1)
    nonempty = (high > low).all(axis=1)
    return CropPlan(frames, sizes, levels, spans, matrices, edge, inside,
                    _regions(frames, spans, levels, reduced & nonempty),
                    _jobs(frames, matrices, out_wh, levels, np.where(nonempty[:, None], spans, -1), edge, inside))


def _jobs(frames, matrices, out_wh, levels, spans, edge, inside) -> dict[int, list[tuple]]:
    """Per frame, each box's cutting parameters as Python values (see CropPlan.jobs): indexing numpy arrays box
    by box in the cutting loop would cost as much as the small warps themselves."""
    order = np.argsort(frames, kind="stable")
    # Constant borders are faster; they are never read unless the box comes near the image's edge.
    borders = np.where(edge, cv2.BORDER_REPLICATE, cv2.BORDER_CONSTANT)[order].tolist()
    rows = [(b, matrix, (out_w, out_h), (level_x, level_y) if level_x or level_y else None,
             None if span[0] < 0 else span, border, None if within == [0, 0, out_w, out_h] else within)
            for b, matrix, (out_w, out_h), (level_x, level_y), span, border, within
            in zip(order.tolist(), matrices[order], out_wh[order].tolist(), levels[order].tolist(),
                   spans[order].tolist(), borders, inside[order].tolist())]
    keys, starts = np.unique(frames[order], return_index=True)
    return {frame: rows[start:stop] for frame, start, stop in zip(keys.tolist(), starts.tolist(),
                                                                   starts[1:].tolist() + [len(rows)])}


def _regions(frames, spans, levels, used) -> dict[int, tuple[int, int, int, int]]:
    """Per frame, the union of the spans of its used boxes, grown to whole blocks of its largest halvings."""
    order = np.flatnonzero(used)[np.argsort(frames[used], kind="stable")]
    if order.size == 0:
        return {}
    keys, starts = np.unique(frames[order], return_index=True)
    block = np.left_shift(1, np.maximum.reduceat(levels[order], starts))
    low = np.minimum.reduceat(spans[order, :2], starts) // block * block
    high = -(-np.maximum.reduceat(spans[order, 2:], starts) // block) * block
    return dict(zip(keys.tolist(), map(tuple, np.concatenate([low, high], axis=1).tolist())))


def cut_frame(image: np.ndarray, plan: CropPlan, frame: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (box index, (h, w, C) uint8 crop) for each box of `frame` in plan, in index order.

    image: that frame, (H, W, C) uint8 of the plan's image size. Boxes of level (0, 0) are warped from the image
    itself. For the others the frame's region is halved once per level they need (level (a, b) from (a-1, b-1)
    while both halve, then along one axis: one fixed path, so the same pixels come out whatever the region) and
    each box is warped from the view of its span (see _Pyramid for the working fourth channel).
    """
    _checked_image(image)
    channels = image.shape[2]
    pyramid = _Pyramid(image, plan.regions.get(frame))
    for b, matrix, (out_w, out_h), level, span, border, within in plan.jobs.get(frame, ()):
        if level is None:
            crop = cv2.warpAffine(image, matrix, (out_w, out_h), flags=_INVERSE_BILINEAR, borderMode=border)
        elif span is None:  # nothing of the image within reach: black
            crop = np.zeros((out_h, out_w, channels), np.uint8)
        else:
            crop = cv2.warpAffine(pyramid.view(level, span), matrix, (out_w, out_h), flags=_INVERSE_BILINEAR,
                                  borderMode=border)
            if channels == 3:  # back from the pyramid's working fourth channel
                crop = cv2.cvtColor(crop, cv2.COLOR_BGRA2BGR)
        if crop.ndim == 2:
            crop = crop[..., None]
        if within is not None:
            col, row, col_end, row_end = within
            crop[:row], crop[row_end:], crop[:, :col], crop[:, col_end:] = 0, 0, 0, 0
        yield b, crop


class _Pyramid:
    """Successive 2x block averages of one region of an image, computed on first use.

    A 3-channel image's halved levels get a fourth (unused) channel: OpenCV's 4-channel warps and halvings run
    about twice as fast as its 3-channel ones, and the first halving leaves a quarter of the pixels to convert.
    """

    def __init__(self, image: np.ndarray, region: tuple[int, int, int, int] | None):
        self.image, self.region, self.levels = image, region, {}

    def view(self, level: tuple[int, int], span: tuple[int, int, int, int]) -> np.ndarray:
        """The pixels of image span (left, top, right, bottom) (whole blocks) at level (x, y) halvings."""
        (level_x, level_y), (left, top, right, bottom) = level, span
        region_left, region_top = self.region[:2]
        return self.level(level_x, level_y)[(top - region_top) >> level_y:(bottom - region_top) >> level_y,
                                            (left - region_left) >> level_x:(right - region_left) >> level_x]

    def level(self, level_x: int, level_y: int) -> np.ndarray:
        if (level_x, level_y) not in self.levels:
            if level_x == level_y == 0:
                self.levels[0, 0] = _padded(self.image, *self.region)
            else:
                parent_x = level_x - 1 if level_x >= level_y else level_x
                parent_y = level_y - 1 if level_y >= level_x else level_y
                parent = self.level(parent_x, parent_y)
                height, width = parent.shape[:2]
                size = (width >> (level_x - parent_x), height >> (level_y - parent_y))
                reduced = cv2.resize(parent, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
                if reduced.shape[2] == 3:  # see the class docstring
                    reduced = cv2.cvtColor(reduced, cv2.COLOR_BGR2BGRA)
                self.levels[level_x, level_y] = reduced
        return self.levels[level_x, level_y]


def _padded(image: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """image[top:bottom, left:right] (0 <= left, top), its edge extended where it runs past the far edges
    (the last blocks of an image whose size is not a multiple of the block)."""
    height, width = image.shape[:2]
    inner = image[top:bottom, left:right]
    if bottom <= height and right <= width:
        return inner
    return cv2.copyMakeBorder(inner, 0, max(bottom - height, 0), 0, max(right - width, 0),
                              cv2.BORDER_REPLICATE).reshape(bottom - top, right - left, -1)
