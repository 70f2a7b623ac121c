"""The strict, line-by-line `.skeleton` parser (format: `skeleton_format.py`, DESIGN.md §3).

It is the reference: `ntu_skeleton.parse_skeleton` hands it every file its fast path does not accept, so it parses
unusual but valid spellings (tabs, signs, long counts) and raises SkeletonFormatError for the first problem in file
order, naming the file, the 1-based line and what was expected. `build_tracks` is shared with the fast path, so
both produce the same arrays from the same numbers.
"""
from __future__ import annotations

import re

import numpy as np
from numpy.lib.stride_tricks import as_strided

from har.io.skeleton_format import BODY_TOKENS, JOINT_TOKENS, NUM_JOINTS, BodyTrack, SkeletonFile, SkeletonFormatError

_F32_LIMIT = 2.0**128 - 2.0**103  # the smallest |double| that rounds to inf in float32
_INT8_RANGE, _INT32_RANGE = (-2**7, 2**7 - 1), (-2**31, 2**31 - 1)
_MAX_COUNT_DIGITS = 18  # a larger count cannot describe a file that fits anywhere
_FLOAT = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(rb"[+-]?\d+")
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
_BODY_INT_COLS = frozenset({0, 1, 2, 3, 4, 5, 8})  # of the 9 body-info fields after the bodyID; 6, 7: leanX/Y


def build_tracks(body_ids: np.ndarray, body_frames: np.ndarray, columns: np.ndarray, joint_starts: np.ndarray,
                 info: np.ndarray, lean: np.ndarray) -> tuple[BodyTrack, ...] | None:
    """Body tracks, in order of first appearance, from the B body-frames of a file in file order; None when a
    bodyID appears twice in one frame, a value is outside float32 / int32 or a trackingState outside int8.

    body_ids: (B,) bytes (numpy 'S')    body_frames: (B,) int32 frame of each body-frame, non-decreasing
    columns: (>=12, N) float64, the 12 joint fields of N lines   joint_starts: (B,) int64 line of each body-frame's
    first joint (the 25 joints are consecutive lines)   info: (B, 7) integral values in BODY_INFO_FIELDS order
    lean: (B, 2) float64 (leanX, leanY)
    """
    if body_ids.size == 0:
        return ()
    if (body_ids == body_ids[0]).all():  # one body (most files): no sort
        unique, first, inverse = body_ids[:1], [0], None
    else:
        unique, first, inverse = np.unique(body_ids, return_index=True, return_inverse=True)
    if not (_INT32_RANGE[0] <= info.min() and info.max() <= _INT32_RANGE[1]):  # (False for NaN)
        return None
    # (12, N - 24, 25) read-only view, the joints from each line on: sliding_window_view without its ~20 us of checks
    windows = as_strided(columns, (JOINT_TOKENS, columns.shape[1] - NUM_JOINTS + 1, NUM_JOINTS),
                         (columns.strides[0], columns.strides[1], columns.strides[1]), writeable=False)
    tracks = []
    with np.errstate(over="ignore"):  # a value outside float32 becomes inf, rejected in _track
        for k in np.argsort(first).tolist():
            rows = slice(None) if inverse is None else np.flatnonzero(inverse == k)
            track = _track(unique[k].decode(), body_frames[rows], _joint_blocks(windows, joint_starts[rows]),
                           info[rows], lean[rows])
            if track is None:
                return None
            tracks.append(track)
    return tuple(tracks)


def _joint_blocks(windows: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(12, n, 25) joint fields of the body-frames whose joints start at `starts`: a view when the starts are
    evenly spaced (a body in every frame), else a gathered copy."""
    step = int(starts[1] - starts[0]) if starts.size > 1 else 1
    if step > 0 and (starts.size < 3 or (np.diff(starts) == step).all()):
        return windows[:, starts[0]::step][:, :starts.size]
    return windows[:, starts]


def _track(body_id: str, frames: np.ndarray, joints: np.ndarray, info: np.ndarray,
           lean: np.ndarray) -> BodyTrack | None:
    """One body's track from its (12, n, 25) joint fields and rows (see build_tracks), or None when a value does not
    fit its field."""
    tracking = joints[JOINT_TOKENS - 1]
    if not (_INT8_RANGE[0] <= tracking.min() and tracking.max() <= _INT8_RANGE[1]) or (frames[1:] == frames[:-1]).any():
        return None
    fields = []
    for lo, hi in ((0, 3), (3, 5), (5, 7), (7, 11)):  # xyz, depth_xy, color_xy, orientation
        field = np.empty(joints.shape[1:] + (hi - lo,), np.float32)
        for col in range(lo, hi):
            field[..., col - lo] = joints[col]
        fields.append(field)
    fields.append(lean.astype(np.float32, order="C"))
    if not all(np.isfinite(field).all() for field in fields):
        return None
    xyz, depth_xy, color_xy, orientation, lean = fields
    return BodyTrack(body_id, frames, xyz, depth_xy, color_xy, orientation, tracking.astype(np.int8, order="C"),
                     info.astype(np.int32, order="C"), lean)


def _number(token: bytes, integer: bool):
    """float(token) (int(token) for an integer field), or None when it is not a finite float32 number / an int32."""
    if integer:  # (int() of thousands of digits raises: such a token is out of range anyway)
        if not _INT.fullmatch(token) or len(token.lstrip(b"+-").lstrip(b"0")) > 10:
            return None
        return int(token) if _INT32_RANGE[0] <= int(token) <= _INT32_RANGE[1] else None
    if not _FLOAT.fullmatch(token):
        return None
    value = float(token)
    return value if abs(value) < _F32_LIMIT else None  # also rejects inf (1e999)


class _Cursor:
    """Content lines of a file (blank lines after the last token dropped), consumed in order."""

    def __init__(self, lines: list[bytes], path: str):
        self.lines, self.path, self.index = lines, path, 0

    def fail(self, message: str, line: int | None = None):
        raise SkeletonFormatError(self.path, self.index + 1 if line is None else line, message)

    def take(self, num_tokens: int, what: str) -> list[bytes]:
        if self.index >= len(self.lines):
            self.fail(f"unexpected end of file after line {self.index}; expected {what}")
        tokens = self.lines[self.index].split()
        if len(tokens) != num_tokens:
            self.fail(f"expected {what}: {num_tokens} token(s), found {len(tokens)}")
        self.index += 1
        return tokens

    def count(self, what: str) -> int:
        token = self.take(1, what)[0]
        if not token.isdigit():
            self.fail(f"expected {what} as a non-negative integer, found {_shown(token)}", self.index)
        if len(token.lstrip(b"0")) > _MAX_COUNT_DIGITS:
            self.fail(f"{what} {_shown(token)} is too large to be real", self.index)
        return int(token)

    def numbers(self, tokens: list[bytes], integer_cols, what: str, int8_col: int | None = None) -> list:
        values = []
        for col, token in enumerate(tokens):
            integer = col in integer_cols
            value = _number(token, integer)
            if value is None:
                kind = "an integer" if integer else "a finite float32 number"
                self.fail(f"{what}, field {col + 1}: expected {kind}, found {_shown(token)}", self.index)
            if col == int8_col and not _INT8_RANGE[0] <= value <= _INT8_RANGE[1]:
                self.fail(f"{what}: trackingState {value} is out of int8 range", self.index)
            values.append(value)
        return values


def _shown(token: bytes) -> str:
    """A token for an error message: quoted, at most 40 characters."""
    text = token.decode()
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _content_lines(data: bytes, path: str) -> list[bytes]:
    """The lines of a text file without the blank lines after the last token; raises for binary or empty files."""
    bad = _CONTROL.search(data)
    if bad is not None:
        raise SkeletonFormatError(path, data.count(b"\n", 0, bad.start()) + 1,
                                  f"binary file: control byte 0x{data[bad.start()]:02x} in a text file")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SkeletonFormatError(path, data.count(b"\n", 0, error.start) + 1,
                                  f"binary file: byte 0x{data[error.start]:02x} is not UTF-8 text") from None
    lines = data.split(b"\n")
    while lines and not lines[-1].split():
        lines.pop()
    if not lines:
        raise SkeletonFormatError(path, 1, "empty file: expected the frame count")
    return lines


def parse_skeleton_strict(data: bytes, path: str) -> SkeletonFile:
    """Parse a `.skeleton` file line by line (float() per token); raise SkeletonFormatError for the first problem."""
    cursor = _Cursor(_content_lines(data, path), path)
    num_frames = cursor.count("the frame count")
    counts, body_ids, body_frames, joints, info, lean = [], [], [], [], [], []
    for frame in range(1, num_frames + 1):
        num_bodies = cursor.count(f"the body count of frame {frame}/{num_frames}")
        counts.append(num_bodies)
        seen = set()
        for body in range(1, num_bodies + 1):
            where = f"body {body}/{num_bodies} of frame {frame}/{num_frames}"
            tokens = cursor.take(BODY_TOKENS, f"the body-info line of {where}")
            if not tokens[0].isdigit():
                cursor.fail(f"{where}: bodyID must be a non-negative integer, found {_shown(tokens[0])}",
                            cursor.index)
            if tokens[0] in seen:
                cursor.fail(f"{where}: bodyID {tokens[0].decode()} appears twice in one frame", cursor.index)
            seen.add(tokens[0])
            values = cursor.numbers(tokens[1:], _BODY_INT_COLS, f"body-info line of {where}")
            body_ids.append(tokens[0])
            body_frames.append(frame - 1)
            info.append(values[0:6] + values[8:9])
            lean.append(values[6:8])
            num_joints = cursor.count(f"the joint count of {where}")
            if num_joints != NUM_JOINTS:
                cursor.fail(f"wrong joint count for {where}: expected {NUM_JOINTS}, found {num_joints}",
                            cursor.index)
            for joint in range(1, NUM_JOINTS + 1):
                tokens = cursor.take(JOINT_TOKENS, f"joint {joint}/{NUM_JOINTS} of {where}")
                joints.append(cursor.numbers(tokens, {JOINT_TOKENS - 1}, f"joint {joint}/{NUM_JOINTS} of {where}",
                                             int8_col=JOINT_TOKENS - 1))
    while cursor.index < len(cursor.lines) and not cursor.lines[cursor.index].split():
        cursor.index += 1  # blank lines may follow the last frame, tokens may not
    if cursor.index < len(cursor.lines):
        cursor.fail(f"expected the end of the file after the last frame ({num_frames}), found "
                    f"{_shown(cursor.lines[cursor.index].strip())}")
    num_bodies = len(body_ids)
    tracks = build_tracks(np.array(body_ids, "S"), np.asarray(body_frames, np.int32),
                          np.asarray(joints, np.float64).reshape(-1, JOINT_TOKENS).T,
                          np.arange(num_bodies) * NUM_JOINTS,
                          np.asarray(info, np.int64).reshape(-1, 7), np.asarray(lean, np.float64).reshape(-1, 2))
    if tracks is None:
        raise RuntimeError(f"{path}: tracks rejected values the line checks accepted (a bug)")
    return SkeletonFile(path, num_frames, np.asarray(counts, np.int32), tracks)
