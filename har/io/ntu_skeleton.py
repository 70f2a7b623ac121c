"""Fast, lossless reader for NTU RGB+D `.skeleton` files (format: `skeleton_format.py`, DESIGN.md §3).

Why it is shaped like this: a line-by-line reader spends its time in ~300k `float()` calls and Python objects per
file. Here pandas' C tokenizer (the engine of `read_csv(engine="c")`, ragged lines padded with NaN) turns the whole
file into one (12, lines) float64 matrix, and numpy checks the layout and cuts out the tracks. Its float parser is
correctly rounded (tests/io/test_ntu_skeleton.py compares it with float()), so values are float32(float(token)).

The fast path takes only the plain spelling Kinect writes (bytes `0-9 . + - E e`, space, CR LF; counts, integer
fields and bodyIDs as bare digits) and checks the whole layout; anything else, valid or not, goes to
`skeleton_text`'s strict line-by-line parser, which parses it or raises SkeletonFormatError with the file, the
line and what was expected. Measured against the classic reader: benchmarks/bench_skeleton_reader.py.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from har.io.skeleton_format import BODY_TOKENS, JOINT_TOKENS, NUM_JOINTS, SkeletonFile
from har.io.skeleton_text import build_tracks, parse_skeleton_strict

try:  # read_csv's own engine; see _read_columns
    from pandas._libs.parsers import TextReader as _TextReader
except ImportError:  # pragma: no cover - a pandas without it: read_csv does the same work
    _TextReader = None

# Bytes that send a file to the strict parser without asking pandas: below LF (NUL: the C tokenizer's end of
# text; tab) or above 'e' (non-ASCII: a UTF-8 BOM is skipped; 'nan', 'inf', 'true'), and the letters and quote that
# pandas would read as a value where the format has none ('TRUE' as 1, 'INF', 'NA' as missing, '"2"' as 2). Every
# other byte outside `0-9 . + - E e`, space, CR LF makes pandas reject its token (tests/io check each byte).
_LOWEST_BYTE, _HIGHEST_BYTE, _RISKY_BYTES = 10, ord("e"), (b"T", b"F", b"I", b"N", b'"')
_LINES_PER_BODY = 2 + NUM_JOINTS  # body-info line, joint count, joints
_INFO_COLS = [1, 2, 3, 4, 5, 6, 9]  # integer body-info fields (BODY_INFO_FIELDS order); 7, 8: leanX, leanY
_MAX_DIGITS = 7  # at most, of a count or an integer at a line end on the fast path
_ID_WINDOW = np.arange(64)[:, None]  # bytes of a body-info line to look at: bodyID and 6 integers must fit


def iter_skeleton_paths(folder) -> Iterator[Path]:
    """The `*.skeleton` files directly in `folder`, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a directory of .skeleton files")
    return iter(sorted(folder.glob("*.skeleton")))


def read_skeleton(path) -> SkeletonFile:
    """Parse one `.skeleton` file into lossless body tracks (raises SkeletonFormatError when malformed)."""
    with open(path, "rb") as handle:
        return parse_skeleton(handle.read(), str(path))


def parse_skeleton(data: bytes | str, path: str = "<bytes>") -> SkeletonFile:
    """Parse the content of a `.skeleton` file (bytes, or text); `path` names it in errors."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    parsed = _parse_fast(data, path)
    return parsed if parsed is not None else parse_skeleton_strict(data, path)


def _parse_fast(data: bytes, path: str) -> SkeletonFile | None:
    """The parsed file, or None when it is malformed or spelled in a way this path does not take."""
    text = np.frombuffer(data, np.uint8)
    if (not data or text.min() < _LOWEST_BYTE or text.max() > _HIGHEST_BYTE
            or any(byte in data for byte in _RISKY_BYTES)):
        return None
    newlines = np.flatnonzero(text == 10)
    # The frame count alone on the first line; this also keeps pandas from taking leading columns as an index.
    first_line = data[:newlines[0] if newlines.size else len(data)].rstrip(b"\r")
    if not (first_line.isdigit() and len(first_line) <= _MAX_DIGITS):
        return None
    table = _read_columns(data)
    if table is None or table.shape[1] != newlines.size + (data[-1] != 10):
        return None  # pandas also ends a line at a lone CR, the format does not
    walked = _walk(table)
    if walked is None:
        return None
    count_rows, counts, end_row = walked
    body_rows = _body_rows(counts, count_rows)
    bodies = table[:, body_rows]
    if not (np.isnan(table[:, end_row:]).all()
            and np.isnan(table[1:, np.concatenate([count_rows, body_rows + 1])]).all()  # one-token lines
            and (table[0, body_rows + 1] == NUM_JOINTS).all()
            and np.isnan(bodies[BODY_TOKENS:]).all() and not np.isnan(bodies[:BODY_TOKENS]).any()
            and _line_ends_are_digits(text, newlines, end_row)):
        return None
    body_ids = _body_ids(text, newlines[body_rows - 1] + 1)
    if body_ids is None:
        return None
    tracks = build_tracks(body_ids, np.repeat(np.arange(counts.size, dtype=np.int32), counts), table,
                          body_rows + 2, bodies[_INFO_COLS].T, bodies[7:9].T)
    return None if tracks is None else SkeletonFile(path, counts.size, counts.astype(np.int32), tracks)


def _read_columns(data: bytes) -> np.ndarray | None:
    """Every line as a column of 12 float64 (12, lines) (absent tokens NaN), or None when pandas rejects a token or
    a line (a 13th token included).

    `read_csv(engine="c")` is a TextReader plus a DataFrame around its columns; for a 260 kB file that layer costs
    about as much as the parse, so the TextReader is used directly where _pick_reader found it equal to read_csv.
    A buffer, not a path: pandas reads files given by path in several threads; this reader stays on one.
    """
    try:
        return _READ_COLUMNS(data)
    except (ValueError, OverflowError):  # ParserError and UnicodeDecodeError are ValueErrors
        return None


def _columns_by_read_csv(data: bytes) -> np.ndarray:
    frame = pd.read_csv(io.BytesIO(data), sep=" ", header=None, names=range(JOINT_TOKENS), dtype=np.float64,
                        skip_blank_lines=False, keep_default_na=False, na_values=[""], low_memory=False,
                        engine="c")
    return frame.to_numpy().T


def _columns_by_text_reader(data: bytes) -> np.ndarray:
    # The options read_csv passes for the call above (fresh containers: the reader may keep them).
    columns = _TextReader(io.BytesIO(data), delimiter=" ", header=None, names=list(range(JOINT_TOKENS)),
                          dtype=np.dtype(np.float64), skip_blank_lines=False, na_values={""}, na_fvalues=set(),
                          keep_default_na=False, allow_leading_cols=False, usecols=None, dtype_backend="numpy",
                          converters={}, skiprows=set()).read()
    return np.stack([columns[col] for col in range(JOINT_TOKENS)])


def _pick_reader():
    """_columns_by_text_reader when this pandas has it and it reads a probe exactly as read_csv does (else
    read_csv): decided once, at import."""
    probe = b"2\r\n1\r\n7 0 1 1 1 1 0 -0.5 7.25E-05 2\r\n25\r\n" + b"0.1 -0 3E+38 1 2 3 4 5 6 7 8 2\r\n" * 3 + b"\r\n"
    try:
        if np.array_equal(_columns_by_text_reader(probe), _columns_by_read_csv(probe), equal_nan=True):
            return _columns_by_text_reader
    except Exception:  # noqa: BLE001 - any failure of the private reader means: use the public one
        pass
    return _columns_by_read_csv


_READ_COLUMNS = _pick_reader()


def _walk(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The frames: (row of each body count (F,) int64, the counts (F,) int64, the row after the last frame), or
    None when the counts do not describe the lines.

    A body count is a one-token line that does not follow a body-info line (that one is a joint count). Rather
    than following the counts frame by frame, take those lines and check that each count leads to the next one.
    """
    first = table[0]
    one_token = np.isnan(table[1]) & ~np.isnan(first)
    one_token[1:] &= np.isnan(table[BODY_TOKENS - 1, :-1]) | ~np.isnan(table[BODY_TOKENS, :-1])  # after <> 10
    count_rows = np.flatnonzero(one_token)[1:]  # row 0 holds the frame count (checked as digits)
    counts = first[count_rows]
    next_rows = count_rows + 1 + _LINES_PER_BODY * counts  # (float: a fractional count cannot match a row)
    if (count_rows.size != first[0] or (counts < 0).any()
            or (count_rows.size and (count_rows[0] != 1 or (next_rows[:-1] != count_rows[1:]).any()))):
        return None
    end_row = next_rows[-1] if count_rows.size else 1
    if not end_row <= first.size or end_row != int(end_row):
        return None
    return count_rows, counts.astype(np.int64), int(end_row)


def _body_rows(counts: np.ndarray, count_rows: np.ndarray) -> np.ndarray:
    """Body-info row of each body-frame (B,): body k of a frame whose count is on row r is on row r + 1 + 27 k."""
    firsts = np.repeat(count_rows + 1, counts)
    rank = np.arange(firsts.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return firsts + _LINES_PER_BODY * rank


def _line_ends_are_digits(text: np.ndarray, newlines: np.ndarray, end_row: int) -> bool:
    """Whether the last token of every line from the second to end_row - 1 is 1-7 plain digits: the counts and
    trackingStates, which the matrix cannot tell from '2.0', '+2' or '2E0' (the first line is checked apart).

    Walks back from the line ends over the digits, all lines at once; a line drops out at the space (or the
    newline of the line before) that ends its token, most after one digit.
    """
    ends = newlines[1:end_row]
    if ends.size < end_row - 1:
        ends = np.append(ends, text.size)  # the last line has no newline
    at = ends - 1 - (text[ends - 1] == 13)  # the last byte before CR LF or LF
    if not ((text[at] - 48) < 10).all():  # uint8: non-digits wrap to >= 10
        return False
    for _ in range(_MAX_DIGITS):
        before = text[at - 1]  # (>= 0: the newline of the line before comes first)
        digit = (before - 48) < 10
        if not (digit | (before == 32) | (before == 10)).all():
            return False
        at = at[digit] - 1
        if not at.size:
            return True
    return False


def _body_ids(text: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """The bodyID of each body-info line (B,) as numpy bytes of its exact digits (float64 would merge IDs past
    2**53), or None when a line's first 7 tokens (bodyID and the six integers) are not all plain digits.

    Reads the first 64 bytes of each line, as (64, B); the 7th space must be among them.
    """
    window = text.take(starts + _ID_WINDOW, mode="clip")
    space = window == 32
    spaces_before = np.cumsum(space, axis=0, dtype=np.uint8)
    in_integers = spaces_before < 7
    if (in_integers[-1].any() or space[0].any()
            or not (((window - 48) < 10) | space | ~in_integers).all()):  # uint8: non-digits wrap to >= 10
        return None
    window *= spaces_before == 0  # NUL after the bodyID: numpy bytes drop trailing NULs
    return np.ascontiguousarray(window.T).view(f"S{_ID_WINDOW.size}").ravel()
