"""Pictures drawn with OpenCV: stick figures, labelled frames and montages (PNG, no plotting library needed)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from har.io.store import atomic_file
from har.layout import NTU_EDGES

PERSON_COLOURS = ((40, 110, 230), (40, 170, 60))  # BGR, one per person
GRID_COLOUR = (60, 60, 60)  # BGR: the borders of labelled_grid's cells
HALF_COLOUR = (200, 200, 200)  # BGR: the line between the two persons' halves of a cell


def stick_figure(joints: np.ndarray, size: int = 320, lines: Sequence[str] = (),
                 edges=NTU_EDGES) -> np.ndarray:
    """Draw one frame of a skeleton seen from the front (x right, y up).

    joints: (M, V, 3) or (M, V, 2) float32, all-zero rows = absent joint. Returns (size, size + text, 3) uint8 BGR.
    """
    canvas = np.full((size, size, 3), 255, np.uint8)
    present = np.any(joints != 0, axis=-1)
    if present.any():
        xy = joints[..., :2][present]
        low, high = xy.min(axis=0), xy.max(axis=0)
        scale = 0.8 * size / max(float((high - low).max()), 1e-6)
        centre = (low + high) / 2

        def pixel(point):
            return (int(size / 2 + (point[0] - centre[0]) * scale), int(size / 2 - (point[1] - centre[1]) * scale))

        for m, person in enumerate(joints):
            colour = PERSON_COLOURS[m % len(PERSON_COLOURS)]
            for a, b in edges:
                if present[m, a] and present[m, b]:
                    cv2.line(canvas, pixel(person[a]), pixel(person[b]), colour, 2, cv2.LINE_AA)
            for v in np.flatnonzero(present[m]):
                cv2.circle(canvas, pixel(person[v]), 3, colour, -1, cv2.LINE_AA)
    return with_caption(canvas, lines)


def with_caption(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Image with text lines in a white band below it."""
    if not lines:
        return image
    band = np.full((18 * len(lines) + 6, image.shape[1], 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(band, line, (4, 16 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (20, 20, 20), 1, cv2.LINE_AA)
    return np.concatenate([image, band], axis=0)


def montage(images: Sequence[np.ndarray], columns: int, gap: int = 4) -> np.ndarray:
    """Tile images (each H x W x 3 uint8; padded to the largest) into a grid."""
    if not images:
        raise ValueError("montage of no images")
    height = max(i.shape[0] for i in images)
    width = max(i.shape[1] for i in images)
    rows = -(-len(images) // columns)
    grid = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 255, np.uint8)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        y, x = gap + r * (height + gap), gap + c * (width + gap)
        grid[y:y + image.shape[0], x:x + image.shape[1]] = image
    return grid


def labelled_grid(image: np.ndarray, rows: Sequence[str], columns: Sequence[str], cell_min: int = 96,
                  border: int = 2, halves: bool = False) -> np.ndarray:
    """Redraw a mosaic of len(rows) x len(columns) equal cells with borders and labels.

    image: (R h, C w, 3) uint8, R = len(rows), C = len(columns). Each cell is enlarged by one integer factor
    (nearest neighbour) to at least `cell_min` pixels on its short side and framed by `border`-pixel dark lines;
    each row is labelled on the left, each column on top. halves: also a thin light line down the middle of every
    cell (cells that hold two persons side by side). Returns (label band + R (h' + border) + border,
    label column + C (w' + border) + border, 3) uint8, with white label areas.
    """
    height, width = image.shape[:2]
    if not rows or not columns or height % len(rows) or width % len(columns):
        raise ValueError(f"a {height}x{width} image does not split into {len(rows)} x {len(columns)} equal cells")
    h, w = height // len(rows), width // len(columns)
    factor = max(1, int(np.ceil(cell_min / min(h, w))))
    ch, cw = h * factor, w * factor
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    text_w = max(cv2.getTextSize(label, font, scale, 1)[0][0] for label in rows)
    left, top = text_w + 10, 22
    canvas = np.full((top + len(rows) * (ch + border) + border, left + len(columns) * (cw + border) + border, 3),
                     255, np.uint8)
    canvas[top:, left:] = GRID_COLOUR
    for r, row_label in enumerate(rows):
        y = top + border + r * (ch + border)
        cv2.putText(canvas, row_label, (4, y + ch // 2 + 5), font, scale, (20, 20, 20), 1, cv2.LINE_AA)
        for c in range(len(columns)):
            x = left + border + c * (cw + border)
            cell = image[r * h:(r + 1) * h, c * w:(c + 1) * w]
            canvas[y:y + ch, x:x + cw] = np.repeat(np.repeat(cell, factor, axis=0), factor, axis=1)
            if halves:
                canvas[y:y + ch, x + cw // 2] = HALF_COLOUR
    for c, column_label in enumerate(columns):
        x = left + border + c * (cw + border)
        size = cv2.getTextSize(column_label, font, scale, 1)[0][0]
        cv2.putText(canvas, column_label, (x + max(0, (cw - size) // 2), top - 7), font, scale, (20, 20, 20), 1,
                    cv2.LINE_AA)
    return canvas


def upscale(image: np.ndarray, min_side: int = 96) -> np.ndarray:
    """Nearest-neighbour enlargement of small crops so they are visible in a montage."""
    factor = max(1, int(np.ceil(min_side / min(image.shape[:2]))))
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) if factor > 1 else image


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Atomically write a BGR uint8 image as PNG."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    with atomic_file(path, "wb") as handle:
        handle.write(encoded.tobytes())
