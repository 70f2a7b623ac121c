"""read_skeleton against an independent line-by-line reader, round trips, every malformed-input error, the pandas
fast path against the strict parser (exact floats, every byte, odd spellings, threads), and format_skeleton."""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from har.io import ntu_skeleton
from har.io.ntu_skeleton import iter_skeleton_paths, parse_skeleton, read_skeleton
from har.io.skeleton_format import BodyTrack, SkeletonFormatError, format_skeleton, frames_from_tracks
from har.io.skeleton_text import parse_skeleton_strict

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ntu-samples"  # real NTU files shipped with the tests
REAL = sorted(SAMPLES.glob("*.skeleton"))
A001 = SAMPLES / "S001C001P001R001A001.skeleton"


def reference_read(text: str) -> dict:
    """The plain reading: per line split(), float() per token, bodies grouped by their bodyID token."""
    lines = [line.split() for line in text.split("\n")]
    num_frames, row, per_frame, tracks = int(lines[0][0]), 1, [], {}
    for frame in range(num_frames):
        num_bodies = int(lines[row][0])
        per_frame.append(num_bodies)
        row += 1
        for _ in range(num_bodies):
            info = lines[row]
            joints = [[float(v) for v in lines[row + 2 + j]] for j in range(int(lines[row + 1][0]))]
            track = tracks.setdefault(info[0], {"frames": [], "info": [], "joints": []})
            track["frames"].append(frame)
            track["info"].append([float(v) for v in info[1:]])
            track["joints"].append(joints)
            row += 2 + len(joints)
    return {"num_frames": num_frames, "per_frame": per_frame, "tracks": tracks}


def assert_same(parsed, text: str) -> None:
    expected = reference_read(text)
    assert parsed.num_frames == expected["num_frames"]
    assert parsed.bodies_per_frame.dtype == np.int32
    assert np.array_equal(parsed.bodies_per_frame, expected["per_frame"])
    assert [t.body_id for t in parsed.tracks] == list(expected["tracks"])
    for track in parsed.tracks:
        ref = expected["tracks"][track.body_id]
        joints, info = np.asarray(ref["joints"]), np.asarray(ref["info"])
        fields = {"frames": (track.frames, np.int32, np.asarray(ref["frames"])),
                  "xyz": (track.xyz, np.float32, joints[..., 0:3]),
                  "depth_xy": (track.depth_xy, np.float32, joints[..., 3:5]),
                  "color_xy": (track.color_xy, np.float32, joints[..., 5:7]),
                  "orientation": (track.orientation, np.float32, joints[..., 7:11]),
                  "tracking": (track.tracking, np.int8, joints[..., 11]),
                  "body_info": (track.body_info, np.int32, info[:, [0, 1, 2, 3, 4, 5, 8]]),
                  "lean": (track.lean, np.float32, info[:, 6:8])}
        for name, (actual, dtype, values) in fields.items():
            assert actual.dtype == dtype and actual.flags.c_contiguous, name
            assert np.array_equal(actual, values.astype(dtype)), f"{track.body_id} {name}"


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_real_files_match_reference_reader(path):
    assert_same(read_skeleton(path), path.read_text())


def test_known_facts_of_a001():
    parsed = read_skeleton(A001)
    assert parsed.num_frames == 103 and parsed.path == str(A001)
    assert [t.body_id for t in parsed.tracks] == ["72057594037931101"]
    track = parsed.tracks[0]
    assert np.array_equal(track.frames, np.arange(103)) and track.xyz.shape == (103, 25, 3)
    assert track.xyz[0, 0].tolist() == np.float32([0.2181153, 0.1725972, 3.785547]).tolist()
    assert track.body_info[0].tolist() == [0, 1, 1, 1, 1, 0, 2] and track.tracking[0, 5] == 1


def test_crlf_real_file_and_iter_paths():
    paths = list(iter_skeleton_paths(SAMPLES))
    assert paths == REAL and len(paths) == 3
    assert b"\r\n" in REAL[1].read_bytes()
    assert parse_skeleton(REAL[1].read_bytes()).num_frames == 82


def _decimal(rng, shape, scale):
    """float32 values that survive the writer's 7 significant digits, some tiny or huge (E notation)."""
    values = rng.normal(0, scale, shape) * 10.0 ** rng.choice([0, 0, 0, -6, 8], shape)
    return np.array([float(f"{v:.7g}") for v in values.ravel()], np.float32).reshape(shape)


def _random_track(rng, body_id: str, frames) -> BodyTrack:
    count = len(frames)
    return BodyTrack(body_id, np.asarray(frames, np.int32), _decimal(rng, (count, 25, 3), 1.0),
                     _decimal(rng, (count, 25, 2), 300.0), _decimal(rng, (count, 25, 2), 900.0),
                     _decimal(rng, (count, 25, 4), 0.5), rng.integers(0, 3, (count, 25)).astype(np.int8),
                     rng.integers(0, 5, (count, 7)).astype(np.int32), _decimal(rng, (count, 2), 0.2))


@pytest.mark.parametrize("line_ending", ["\r\n", "\n"])
def test_round_trip_two_interleaved_bodies(line_ending):
    rng = np.random.default_rng(7)
    a = _random_track(rng, "72057594037931101", [0, 1, 2, 4, 5, 8])
    b = _random_track(rng, "72057594037931102", [0, 2, 3, 7, 8])  # ids differ only past 2**53
    frames = frames_from_tracks(10, [a, b])
    frames[0].reverse()  # b listed first in frame 0: it is the first track
    text = format_skeleton(10, frames, line_ending)
    assert "E-" in text and "E+" in text
    parsed = parse_skeleton(text.encode(), "gen")
    assert [t.body_id for t in parsed.tracks] == [b.body_id, a.body_id]
    assert parsed.bodies_per_frame.tolist() == [2, 1, 2, 1, 1, 1, 0, 1, 2, 0]
    for got, want in zip(parsed.tracks, [b, a]):
        for field in ("frames", "xyz", "depth_xy", "color_xy", "orientation", "tracking", "body_info", "lean"):
            assert np.array_equal(getattr(got, field), getattr(want, field)), field
    assert_same(parsed, text)


@pytest.mark.parametrize("text", ["0\n", "0", "3\r\n0\r\n0\r\n0\r\n", "2\n0\n0\n\n  \n"])
def test_zero_frames_and_zero_bodies_read_as_empty(text):
    parsed = parse_skeleton(text.encode())
    assert parsed.tracks == () and parsed.bodies_per_frame.tolist() == [0] * parsed.num_frames


def test_long_spellings_of_counts_and_text_input():
    """Counts of 8+ characters leave the fast path (the strict parser takes them)."""
    lines = A001.read_text().split("\n")
    lines[0], lines[1], lines[3] = "0000000000000103", "00000000000000001", "0000000000000025"
    parsed = parse_skeleton("\n".join(lines), "text input")
    assert parsed.path == "text input"
    assert_same(parsed, A001.read_text())


def test_trailing_whitespace_and_spacing_are_fine():
    lines = A001.read_text().split("\n")
    text = "\n".join(f" {line}\t " for line in lines) + "\n\n  \n"
    assert_same(parse_skeleton(text.encode()), A001.read_text())


def _edit(lines: list[str], line: int, replace=None, insert=None) -> list[str]:
    """1-based line edits: replace(old) -> new text, or insert text before the line."""
    lines = list(lines)
    if replace is not None:
        lines[line - 1] = replace(lines[line - 1])
    if insert is not None:
        lines.insert(line - 1, insert)
    return lines


def _token(index: int, new: str):
    def change(line: str) -> str:
        tokens = line.split()
        tokens[index] = new
        return " ".join(tokens)
    return change


# (name, build(lines, ending) -> bytes, expected 1-based line, words expected in the message)
A001_LINES = A001.read_text().split("\n")[:-1]  # the file ends with a newline
MALFORMED = [
    ("truncated in a body", lambda ls: ls[:40], 41, "end of file"),
    ("truncated before a frame", lambda ls: ls[:29], 30, "end of file"),
    ("truncated mid line", lambda ls: ls[:11] + [" ".join(ls[11].split()[:3])], 12, "12 token"),
    ("non-numeric token", lambda ls: _edit(ls, 7, _token(2, "abc")), 7, "'abc'"),
    ("nan", lambda ls: _edit(ls, 8, _token(0, "nan")), 8, "'nan'"),
    ("inf", lambda ls: _edit(ls, 9, _token(4, "-inf")), 9, "'-inf'"),
    ("float overflow", lambda ls: _edit(ls, 10, _token(1, "1e999")), 10, "'1e999'"),
    ("float32 overflow", lambda ls: _edit(ls, 11, _token(1, "3.5E+38")), 11, "float32"),
    ("extra token", lambda ls: _edit(ls, 10, lambda s: s + " 0"), 10, "found 13"),
    ("missing body-info token", lambda ls: _edit(ls, 3, lambda s: s.rsplit(" ", 1)[0]), 3, "found 9"),
    ("wrong joint count", lambda ls: _edit(ls[:28] + ls[29:], 4, lambda s: "24"), 4, "expected 25"),
    ("negative body count", lambda ls: _edit(ls, 30, lambda s: "-1"), 30, "non-negative integer"),
    ("fractional frame count", lambda ls: _edit(ls, 1, lambda s: "103.0"), 1, "non-negative integer"),
    ("non-integer tracking", lambda ls: _edit(ls, 6, _token(11, "2.5")), 6, "integer"),
    ("tracking out of int8", lambda ls: _edit(ls, 6, _token(11, "300")), 6, "int8"),
    ("non-numeric body id", lambda ls: _edit(ls, 31, _token(0, "72057594037931101x")), 31, "bodyID"),
    ("garbage after last frame", lambda ls: ls + ["", "1 2 3"], len(A001_LINES) + 2, "end of the file"),
    ("blank line inside", lambda ls: _edit(ls, 16, insert=""), 16, "found 0"),
    ("nul byte", lambda ls: _edit(ls, 12, lambda s: s[:5] + "\x00" + s[5:]), 12, "binary"),
    ("second body with the same id", lambda ls: ["1", "2"] + ls[2:29] + ls[2:29], 30, "twice"),
]


@pytest.mark.parametrize("name,build,line,words", MALFORMED, ids=[c[0] for c in MALFORMED])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_malformed_real_file_names_line(name, build, line, words, ending):
    data = (ending.join(build(A001_LINES)) + ending).encode()
    with pytest.raises(SkeletonFormatError) as caught:
        parse_skeleton(data, "bad.skeleton")
    assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith(f"bad.skeleton, line {line}: ") and words in str(caught.value)


@pytest.mark.parametrize("data,line,words", [
    (b"", 1, "empty file"), (b" \r\n\n\t\n", 1, "empty file"),
    (b"1\n1\n\xff\xfe 0 1\n", 3, "not UTF-8"), (b"2\n0\n\x01\n", 3, "binary"),
    (b"1\n1\n", 3, "end of file"), (b"1\n", 2, "end of file"), (b"x\n", 1, "non-negative integer"),
    (b"9" * 5000 + b"\n", 1, "too large"), (b"1\n" + b"9" * 30 + b"\n", 2, "too large"),
])
def test_malformed_small_files(data, line, words):
    with pytest.raises(SkeletonFormatError) as caught:
        parse_skeleton(data, "tiny")
    assert caught.value.line == line and words in str(caught.value)


def test_generated_crlf_errors_name_lines():
    rng = np.random.default_rng(3)
    text = format_skeleton(3, frames_from_tracks(3, [_random_track(rng, "5", [0, 1, 2])]), "\r\n")
    lines = text.split("\r\n")[:-1]
    bad = _edit(lines, 33, _token(3, "1.2.3"))
    with pytest.raises(SkeletonFormatError, match=r"line 33: .*'1\.2\.3'"):
        parse_skeleton("\r\n".join(bad).encode())
    with pytest.raises(SkeletonFormatError, match="line 57: unexpected end of file"):
        parse_skeleton("\r\n".join(lines[:56]).encode())


def test_random_corruptions_fail_cleanly_or_match_reference():
    """The fast path and the error reporter agree: every variant either parses exactly like the reference reader
    or raises SkeletonFormatError for a line of the file (never another exception)."""
    rng = np.random.default_rng(11)
    tracks = [_random_track(rng, "11", [0, 1, 2, 3]), _random_track(rng, "12", [1, 3])]
    base = format_skeleton(4, frames_from_tracks(4, tracks), "\n").split("\n")
    junk = ["abc", "nan", "1e5", "-.5", "5.", "+7", "1-2", "..", "-", "0" * 17 + "1", "9" * 16, "2147483648"]
    outcomes = set()
    for _ in range(300):
        lines = list(base)
        row = int(rng.integers(0, len(lines) - 1))
        action = int(rng.integers(0, 4))
        if action == 0:
            tokens = lines[row].split() or [""]
            tokens[int(rng.integers(0, len(tokens)))] = str(rng.choice(junk))
            lines[row] = " ".join(tokens)
        elif action == 1:
            del lines[row]
        elif action == 2:
            lines.insert(row, lines[row])
        else:
            lines[row] = lines[row].replace(".", "", 1)
        text = "\n".join(lines)
        try:
            parsed = parse_skeleton(text.encode(), "fuzz")
        except SkeletonFormatError as error:
            assert 1 <= error.line <= len(lines) + 1 and re.match(r"fuzz, line \d+: ", str(error))
            outcomes.add("error")
        else:
            assert_same(parsed, text)
            outcomes.add("parsed")
    assert outcomes == {"error", "parsed"}


# --- the pandas fast path against the strict parser -------------------------------------------------------------

FIELDS = ("frames", "xyz", "depth_xy", "color_xy", "orientation", "tracking", "body_info", "lean")


def assert_identical(got, want) -> None:
    """Same frames, counts, tracks and arrays, bit for bit (dtype, -0.0 and layout included)."""
    assert (got.path, got.num_frames) == (want.path, want.num_frames)
    assert got.bodies_per_frame.dtype == want.bodies_per_frame.dtype == np.int32
    assert np.array_equal(got.bodies_per_frame, want.bodies_per_frame)
    assert [t.body_id for t in got.tracks] == [t.body_id for t in want.tracks]
    for a, b in zip(got.tracks, want.tracks):
        for name in FIELDS:
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and x.shape == y.shape and x.flags.c_contiguous, name
            assert x.tobytes() == y.tobytes(), f"{a.body_id} {name}"


def outcome(parse, data: bytes):
    """The parsed file, or the error message."""
    try:
        return parse(data, "f.skeleton")
    except SkeletonFormatError as error:
        return str(error)


def assert_fast_agrees(data: bytes) -> bool:
    """parse_skeleton gives what the strict parser gives; True when the fast path took the file."""
    fast, want = ntu_skeleton._parse_fast(data, "f.skeleton"), outcome(parse_skeleton_strict, data)
    got = outcome(parse_skeleton, data)
    if isinstance(want, str):
        assert fast is None and got == want
    else:
        assert_identical(got, want)
        if fast is not None:
            assert_identical(fast, want)
    return fast is not None


def _generated(line_ending: str) -> bytes:
    """Two bodies entering and leaving (gaps, order swapped in a frame), empty frames first and inside."""
    rng = np.random.default_rng(5)
    a = _random_track(rng, "72057594037931101", [2, 3, 4, 6, 7, 8, 9])
    b = _random_track(rng, "72057594037931102", [3, 4, 5, 8, 9])
    frames = frames_from_tracks(11, [a, b])
    frames[8].reverse()
    return format_skeleton(11, frames, line_ending).encode()


FAST_FILES = [pytest.param(p.read_bytes(), id=p.stem) for p in REAL] + [
    pytest.param(_generated("\r\n"), id="generated-crlf"), pytest.param(_generated("\n"), id="generated-lf"),
    pytest.param(_generated("\n").rstrip(b"\n"), id="no-final-newline"), pytest.param(b"0", id="zero-frames"),
    pytest.param(b"3\r\n0\r\n0\r\n0\r\n\r\n \r\n", id="empty-frames-blank-lines")]


@pytest.mark.parametrize("data", FAST_FILES)
def test_fast_path_takes_plain_files_and_matches_strict(data):
    assert assert_fast_agrees(data)


def test_column_readers_agree_and_the_direct_one_is_used():
    """The TextReader shortcut reads exactly what read_csv reads; on this pandas the shortcut is in use (so an
    upgrade that breaks it fails here instead of silently costing speed)."""
    assert ntu_skeleton._READ_COLUMNS is ntu_skeleton._columns_by_text_reader
    for data in [p.read_bytes() for p in REAL] + [_generated("\n"), b"1\n\n3 4\n \n"]:
        direct, public = ntu_skeleton._columns_by_text_reader(data), ntu_skeleton._columns_by_read_csv(data)
        assert direct.shape == public.shape and np.array_equal(direct, public, equal_nan=True)


TRICKY = ["0.1", "0.3", "-0", "-0.0", "0", "+1.5", ".5", "5.", "00000.1000000", "7.257856E-05", "7.257856e-05",
          "1E-45", "1.401298E-45", "1e-46", "7e-46", "3.402823E+38", "3.4028235E+38", "-3.4028235677973362E+38",
          "1.0000000596046448", "1.00000005960464478", "1.000000059604644775390625", "0.30000000000000004",
          "123456789012345678901234567890", "9007199254740993", "2.2250738585072014E-308", "4.9E-324", "1E-400",
          "0.100000001490116119384765625", "16777217", "33554435", "6.103515625E-05", "-1.17549435E-38"]


def _random_tokens(rng: np.random.Generator, count: int) -> list[str]:
    """Decimal spellings of 1-25 digits with exponents around float32's range, and doubles at or next to the
    midpoint of two float32 (where a parser that rounds twice goes wrong)."""
    tokens = []
    for _ in range(count):
        digits = "".join(rng.choice(list("0123456789"), int(rng.integers(1, 26))))
        point = int(rng.integers(0, len(digits) + 1))
        token = ("-" if rng.random() < 0.5 else "") + (digits[:point] + "." + digits[point:]).strip(".")
        tokens.append(token + (f"E{int(rng.integers(-50, 39)):+03d}" if rng.random() < 0.5 else ""))
    mantissas = rng.integers(2**23, 2**24, count // 4) + 0.5
    midpoints = np.ldexp(mantissas, rng.integers(-150, 104, count // 4))
    for values in (np.nextafter(midpoints, -np.inf), midpoints, np.nextafter(midpoints, np.inf)):
        tokens += [repr(value) for value in values.tolist()]
    return tokens


@pytest.mark.parametrize("reader", ["_columns_by_text_reader", "_columns_by_read_csv"])
def test_pandas_floats_are_float_of_each_token(reader):
    tokens = TRICKY + _random_tokens(np.random.default_rng(2), 4000)
    tokens += [""] * (-len(tokens) % 12)
    lines = [" ".join(tokens[i:i + 12]).strip() for i in range(0, len(tokens), 12)]
    columns = getattr(ntu_skeleton, reader)("\n".join(lines).encode())
    for row, line in enumerate(lines):
        expected = np.array([float(t) for t in line.split()], np.float64)
        assert columns[:expected.size, row].view(np.int64).tolist() == expected.view(np.int64).tolist(), line


def test_tracks_hold_float32_of_float_of_each_token():
    """Values in a parsed file are float32(float(token)), bit for bit, E notation and -0 included."""
    tokens = (TRICKY * 30)[:25 * 11]
    lines = ["1", "1", "5 0 1 1 1 1 0 -0 7.257856E-05 2", "25"]
    lines += [" ".join(tokens[11 * j:11 * j + 11]) + " 2" for j in range(25)]
    data = ("\r\n".join(lines) + "\r\n").encode()
    parsed = ntu_skeleton._parse_fast(data, "f.skeleton")
    assert parsed is not None  # the pandas path, not the strict one
    assert_identical(parsed, parse_skeleton_strict(data, "f.skeleton"))
    track = parsed.tracks[0]
    values = np.concatenate([track.xyz, track.depth_xy, track.color_xy, track.orientation], axis=-1).ravel()
    assert values.view(np.int32).tolist() == np.float32([float(t) for t in tokens]).view(np.int32).tolist()
    assert track.lean.view(np.int32).tolist() == np.float32([[-0.0, 7.257856e-05]]).view(np.int32).tolist()


# A small plain file: 2 frames, one body, the second frame empty.
SMALL = (b"2\r\n1\r\n72057594037931101 0 1 1 1 1 0 -0.05 7.25E-05 2\r\n25\r\n"
         + b"".join(b"0.1%d -0.2 3.5 1 2 3 4 5 6 7 8 2\r\n" % j for j in range(25)) + b"0\r\n")


def test_every_byte_anywhere_is_declined_or_read_as_strict_reads_it():
    """Each of the 256 byte values, inserted or replacing a byte at places that matter (inside, before and after
    tokens, at line ends, in counts, bodyID and trackingState): the fast path declines or agrees exactly."""
    joint = SMALL.index(b"0.10 ")
    places = [0, 1, 3, 9, 17, 60, SMALL.index(b"\r\n25") - 1, SMALL.index(b"\r\n25"), joint, joint + 2,
              joint + 4, joint + 5, SMALL.index(b" 2\r\n0.11") + 1, SMALL.index(b" 2\r\n0.11") + 2, len(SMALL) - 3]
    taken = 0
    for byte in range(256):
        for at in places:
            taken += assert_fast_agrees(SMALL[:at] + bytes([byte]) + SMALL[at:])
            taken += assert_fast_agrees(SMALL[:at] + bytes([byte]) + SMALL[at + 1:])
    assert taken > 50  # (digits and harmless places still take the fast path)


WORDS = ["TRUE", "True", "true", "FALSE", "false", "inf", "-inf", "INF", "Infinity", "nan", "NaN", "-nan", "NA",
         "N/A", "null", "NULL", "None", "#N/A", "<NA>", '"2"', "'2'", "1_0", "0x1", "0X1", "1D5", "1d5", "1,5", "2\t",
         "\x0c2", "\ufeff2", "\u0662", "2.0", "2.", "+2", "2E0", "02", "-0", "-2", "0000002", "00000002"]


@pytest.mark.parametrize("word", WORDS)
def test_words_and_spellings_in_every_kind_of_field(word):
    """A word pandas might read as a value (or as nothing), or an integer spelled otherwise, in each kind of field
    and after the last token: whatever it is, parse_skeleton answers as the strict parser does."""
    lines = SMALL.decode().split("\r\n")
    for row, col in [(0, 0), (1, 0), (1, 1), (2, 0), (2, 3), (2, 7), (2, 9), (2, 10), (3, 0), (4, 0), (4, 4),
                     (4, 11), (4, 12), (28, 0), (28, 1), (29, 0), (29, 1)]:
        tokens = lines[row].split(" ")
        tokens[col:col + 1] = [word]
        edited = lines[:row] + [" ".join(tokens)] + lines[row + 1:]
        assert_fast_agrees("\r\n".join(edited).encode())


LAYOUTS = {
    "empty": b"", "blank": b" \r\n\n", "zero": b"0", "zero-lf": b"0\n", "leading-empty-frames": b"2\n0\n1\n",
    "lone-body-line": b"1\n1\n5 0 1 1 1 1 0 0.1 0.2 2\n", "missing-frames": b"5\n0\n0\n",
    "huge-frame-count": b"99999999999999999999\n0\n", "huge-body-count": b"1\n" + b"9" * 17 + b"\n",
    "count-on-two-lines": SMALL.replace(b"2\r\n1\r\n", b"2\r\n\r\n1\r\n", 1),
    "nul-file": b"\x00" * 40, "binary": bytes(range(256)), "lone-cr": SMALL.replace(b" 2\r\n0.11", b" 2\r0.11"),
    "cr-cr-lf": SMALL.replace(b"\r\n25", b"\r\r\n25"), "13-tokens": SMALL.replace(b" 8 2\r\n0.12", b" 8 2 2\r\n0.12"),
    "trailing-spaces": SMALL.replace(b"\r\n", b" \r\n"), "tabs": SMALL.replace(b" ", b"\t"),
    "double-spaces": SMALL.replace(b" ", b"  "), "leading-space": SMALL.replace(b"\r\n0.1", b"\r\n 0.1"),
    "mixed-endings": SMALL.replace(b"\r\n", b"\n", 9), "garbage-after": SMALL + b"1 2\r\n",
    "blank-inside": SMALL.replace(b"\r\n25", b"\r\n\r\n25"), "id-past-window": SMALL.replace(b"72057", b"7" * 70),
    "long-id": SMALL.replace(b"72057", b"123456789012345678901234567890"),
    "joint-count-24": SMALL.replace(b"\r\n25\r\n", b"\r\n24\r\n"),
    "body-count-1.5": SMALL.replace(b"2\r\n1\r\n", b"2\r\n1.5\r\n"),
    "two-bodies-same-id": b"1\n2\n" + b"\n".join(SMALL.split(b"\r\n")[2:29] * 2) + b"\n",
    "two-bodies": b"1\n2\n" + b"\n".join(SMALL.split(b"\r\n")[2:29] + [b"9" + SMALL.split(b"\r\n")[2]]
                                        + SMALL.split(b"\r\n")[3:29]) + b"\n",
}


@pytest.mark.parametrize("data", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_layouts_fast_path_agrees_with_strict(data):
    assert_fast_agrees(data)


def test_threads_read_the_same_as_one_thread():
    """No shared mutable state: files read concurrently come out as read one by one."""
    files = [p.read_bytes() for p in REAL] + [_generated("\r\n"), SMALL]
    expected = [parse_skeleton(data, "f.skeleton") for data in files]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda data: parse_skeleton(data, "f.skeleton"), files * 8))
    for index, parsed in enumerate(results):
        assert_identical(parsed, expected[index % len(files)])


# --- format_skeleton -------------------------------------------------------------------------------------------


def _plain_format(num_frames: int, frames, line_ending: str) -> str:
    """The straightforward writer: every value through '%.7g' on its own, e -> E."""
    def number(value) -> str:
        return f"{float(value):.7g}".replace("e", "E")

    out = [str(num_frames)]
    for bodies in frames:
        out.append(str(len(bodies)))
        for track, row in bodies:
            info, lean = track.body_info[row], track.lean[row]
            out.append(" ".join([track.body_id, *map(str, info[:6].tolist()), number(lean[0]), number(lean[1]),
                                 str(int(info[6]))]))
            out.append("25")
            joints = np.concatenate([track.xyz[row], track.depth_xy[row], track.color_xy[row],
                                     track.orientation[row]], axis=1)
            out += [" ".join([*map(number, joints[j]), str(int(track.tracking[row, j]))]) for j in range(25)]
    return line_ending.join(out) + line_ending


def _extreme(rng: np.random.Generator, shape) -> np.ndarray:
    """float32 values from subnormal to near the float32 maximum, both signs, some -0, nan and inf."""
    values = (rng.normal(0, 1, shape) * 10.0 ** rng.integers(-46, 39, shape)).astype(np.float32)
    for special in (-0.0, np.nan, np.inf, -np.inf, 1e-45, 3.4028235e38, 0.1, 2.0**-11, 1e7, 1e-5):
        values[rng.random(shape) < 0.01] = special
    return values


@pytest.mark.parametrize("line_ending", ["\r\n", "\n"])
def test_format_skeleton_is_per_value_formatting(line_ending):
    rng = np.random.default_rng(13)
    tracks = [BodyTrack(body_id, np.asarray(frames, np.int32), _extreme(rng, (len(frames), 25, 3)),
                        _extreme(rng, (len(frames), 25, 2)), _extreme(rng, (len(frames), 25, 2)),
                        _extreme(rng, (len(frames), 25, 4)), rng.integers(-128, 128, (len(frames), 25), np.int8),
                        rng.integers(-2**31, 2**31, (len(frames), 7), np.int32), _extreme(rng, (len(frames), 2)))
              for body_id, frames in (("72057594037931101", range(0, 40)), ("1e%d", range(10, 50, 3)))]
    frames = frames_from_tracks(50, tracks)
    frames[13].reverse()
    text = format_skeleton(50, frames, line_ending)
    assert text == _plain_format(50, frames, line_ending)
    assert "E-" in text and "E+" in text and "-0 " in text and "nan" in text and "inf" in text
