"""A deliberately plain reference of PYSKL's NTU 3D preprocessing (`tools/data/ntu_preproc.py`), for tests.

Written directly from the published rules (DESIGN.md §3 and PYSKL's script), on the raw `.skeleton` text, with
loops and dicts, sharing no code with `har`: it reads the text itself, counts frames itself and places bodies
itself. Numbers are float32 as PYSKL's are (each value float32(float(token)); variances by numpy in float32).
`reference_keypoint(text)` returns the (M, T, 25, 3) float32 array PYSKL builds before its float16 cast, or None
where PYSKL stops with an error (no body at all, or no body left after denoising).
"""
from __future__ import annotations

import numpy as np

EPS = 1e-3


def read_bodies(text: str, fields=(0, 1, 2)) -> list[dict]:
    """Bodies in order of first appearance: {'id', 'start' (frame counter at first appearance, frames without a
    body not counted), 'rows' (list of (25, len(fields)) float32 in file order), 'tracking' (list of (25,))}."""
    lines = text.splitlines()
    position = 0

    def next_line() -> str:
        nonlocal position
        position += 1
        return lines[position - 1]

    bodies: dict[str, dict] = {}
    counter = 0
    for _ in range(int(next_line())):
        count = int(next_line())
        if count == 0:
            continue
        for _ in range(count):
            body_id = next_line().split()[0]
            assert int(next_line()) == 25
            joints, states = [], []
            for _ in range(25):
                tokens = next_line().split()
                joints.append([np.float32(float(tokens[f])) for f in fields])
                states.append(int(tokens[11]))
            if body_id not in bodies:
                bodies[body_id] = {"id": body_id, "start": counter, "rows": [], "tracking": []}
            bodies[body_id]["rows"].append(np.array(joints, np.float32))
            bodies[body_id]["tracking"].append(np.array(states))
        counter += 1
    return list(bodies.values())


def motion(rows: list[np.ndarray]) -> np.float32:
    """Per-axis variance of every joint position of every given frame pooled together, summed (float32)."""
    pooled = np.array([joint for frame in rows for joint in frame], np.float32)
    return np.sum(np.var(pooled, axis=0))


def is_valid(frame: np.ndarray) -> bool:
    """x-spread <= 0.8 * y-spread over the 25 joints of one frame."""
    xs, ys = [j[0] for j in frame], [j[1] for j in frame]
    return bool(max(xs) - min(xs) <= np.float32(0.8) * (max(ys) - min(ys)))


def choose(bodies: list[dict]) -> list[dict] | None:
    """The bodies PYSKL keeps, in its final order; None where it has none."""
    for body in bodies:
        body["motion"] = motion(body["rows"])
    ranked = sorted(bodies, key=lambda b: -b["motion"])
    if len(ranked) <= 1:
        return ranked or None
    ranked = [b for b in ranked if len(b["rows"]) > 11]
    if len(ranked) == 1:
        return ranked
    survivors = []
    for body in ranked:
        valid = [row for row in body["rows"] if is_valid(row)]
        noisy_share = 1 - len(valid) / len(body["rows"])
        if noisy_share >= 0.69754:
            continue
        if len(valid) < len(body["rows"]):
            body["motion"] = min(body["motion"], motion(valid))
        survivors.append(body)
    if not survivors:
        return None
    return sorted(survivors, key=lambda b: -b["motion"])


def place(chosen: list[dict], width: int) -> np.ndarray:
    """Two slots; each body into slot 0 if it misses slot 0's span, else slot 1 if it misses slot 1's, else
    nowhere. Spans are hulls; slot 1's starts as (0, 0)."""
    length = max(b["start"] + len(b["rows"]) for b in chosen)
    out = np.zeros((2, length, 25, width), np.float32)
    spans = [None, (0, 0)]
    for body in chosen:
        begin, end = body["start"], body["start"] + len(body["rows"])
        for slot in (0, 1):
            span = spans[slot]
            if span is None or max(span[0], begin) >= min(span[1], end):
                for k, row in enumerate(body["rows"]):
                    out[slot, begin + k] = row
                spans[slot] = (begin, end) if span is None else (min(span[0], begin), max(span[1], end))
                break
    return out


def trim_and_order(keypoint: np.ndarray) -> np.ndarray | None:
    """Cut all-zero frames at both ends; swap slots when slot 0's spine mid is zero at the first frame and slot
    1's is not."""
    frames = list(range(keypoint.shape[1]))
    while frames and np.sum(np.abs(keypoint[:, frames[0]])) < EPS:
        frames.pop(0)
    while frames and np.sum(np.abs(keypoint[:, frames[-1]])) < EPS:
        frames.pop()
    if not frames:
        return None
    keypoint = keypoint[:, frames[0]:frames[-1] + 1]
    if np.sum(np.abs(keypoint[0, 0, 1])) < EPS and np.sum(np.abs(keypoint[1, 0, 1])) > EPS:
        keypoint = keypoint[::-1]
    return np.ascontiguousarray(keypoint)


def reference_keypoint(text: str, fields=(0, 1, 2)) -> np.ndarray | None:
    """PYSKL's keypoint for a .skeleton text (fields (0, 1, 2): x y z; (5, 6): colorX colorY laid out by the
    same choice, which the x, y, z values make)."""
    bodies = read_bodies(text)
    chosen = choose(bodies)
    if chosen is None:
        return None
    values = {b["id"]: b for b in read_bodies(text, fields)}
    if len(chosen) == 1:
        return np.array([values[chosen[0]["id"]]["rows"]], np.float32)
    keypoint = place(chosen, 3)
    trimmed = trim_and_order(keypoint)
    if trimmed is None or fields == (0, 1, 2):
        return trimmed
    # Another field: the same placement, trim and order (found on x, y, z) applied to its values.
    return _same_layout(chosen, values, keypoint, trimmed, len(fields))


def _same_layout(chosen, values, keypoint, trimmed, width) -> np.ndarray:
    other = place([{**b, "rows": values[b["id"]]["rows"]} for b in chosen], width)
    first = next(t for t in range(keypoint.shape[1]) if np.sum(np.abs(keypoint[:, t])) >= EPS)
    other = other[:, first:first + trimmed.shape[1]]
    swapped = not np.array_equal(trimmed, keypoint[:, first:first + trimmed.shape[1]])
    return np.ascontiguousarray(other[::-1] if swapped else other)


def reference_scores(text: str) -> np.ndarray | None:
    """keypoint_score of the 2D export: trackingState 2 -> 1.0, 1 -> 0.5, 0 -> 0.0, laid out like the keypoints."""
    bodies = read_bodies(text)
    for body in bodies:
        body["rows"] = [np.array([[{2: 1.0, 1: 0.5, 0: 0.0}[s]] for s in states], np.float32)
                        for states in body["tracking"]]
    text_free = {b["id"]: b for b in bodies}
    chosen = choose(read_bodies(text))
    if chosen is None:
        return None
    if len(chosen) == 1:
        return np.array(text_free[chosen[0]["id"]]["rows"], np.float32)[None, ..., 0]
    keypoint = place(chosen, 3)
    trimmed = trim_and_order(keypoint)
    return None if trimmed is None else _same_layout(chosen, text_free, keypoint, trimmed, 1)[..., 0]
