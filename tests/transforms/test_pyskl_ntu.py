"""PYSKL's NTU body selection (har.transforms.pyskl_ntu) against the plain reference in pyskl_reference.py, on the
real samples and on generated multi-body `.skeleton` files: ID switches, short noise bodies, wide bodies, empty
frames (leading, middle, trailing), three or more bodies, bodies that leave and come back."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from har.io.ntu_skeleton import parse_skeleton, read_skeleton
from har.io.skeleton_format import BodyTrack, format_skeleton
from har.transforms.denoise import Track
from har.transforms.pyskl_ntu import PysklRuleError, lay_out, pyskl_layout, select_tracks
from tests.transforms.pyskl_reference import reference_keypoint

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ntu-samples"
REAL = sorted(SAMPLES.glob("*.skeleton"))
DONORS = [read_skeleton(p).tracks[0] for p in REAL]


def production(text: str, field: str = "xyz") -> np.ndarray | None:
    """What har makes of a .skeleton text: parse, tracks, PYSKL layout; None on PysklRuleError."""
    parsed = parse_skeleton(text)
    tracks = [Track(frames=t.frames, xyz=t.xyz, extra={"color_xy": t.color_xy}) for t in parsed.tracks]
    try:
        layout = pyskl_layout(tracks)
    except PysklRuleError:
        return None
    return lay_out(layout, [t.xyz if field == "xyz" else t.extra[field] for t in tracks])


def body(donor: BodyTrack, body_id: str, frames, rows=None, xyz=None) -> BodyTrack:
    """A track at `frames` made of the donor's `rows` (default the first len(frames)); xyz replaces the xyz."""
    rows = np.arange(len(frames)) if rows is None else np.asarray(rows)
    fields = {f.name: getattr(donor, f.name)[rows] for f in dataclasses.fields(donor)
              if f.name not in ("body_id", "frames")}
    if xyz is not None:
        fields["xyz"] = np.asarray(xyz, np.float32)
    return BodyTrack(body_id=body_id, frames=np.asarray(frames, np.int32), **fields)


def skeleton_text(num_frames: int, tracks: list[BodyTrack], rng: np.random.Generator | None = None) -> str:
    """The .skeleton text; bodies in a frame in a shuffled order when rng is given (Kinect's order is arbitrary)."""
    frames = [[] for _ in range(num_frames)]
    for track in tracks:
        for row, frame in enumerate(track.frames):
            frames[int(frame)].append((track, row))
    if rng is not None:
        frames = [[bodies[i] for i in rng.permutation(len(bodies))] for bodies in frames]
    return format_skeleton(num_frames, frames)


def wide(xyz: np.ndarray, which=None) -> np.ndarray:
    """x and y swapped (on the frames `which`): a standing person becomes wider than tall."""
    out = xyz.copy()
    which = slice(None) if which is None else which
    out[which] = out[which][..., [1, 0, 2]]
    return out


def random_case(seed: int) -> str:
    """A random multi-body file: 1-5 bodies of random kinds, empty frames anywhere, random IDs and order."""
    rng = np.random.default_rng(seed)
    num_frames = int(rng.integers(24, 70))
    tracks: list[BodyTrack] = []
    next_id = int(rng.integers(10**17, 7 * 10**17))
    for _ in range(int(rng.integers(1, 6))):
        kind = rng.choice(["person", "short", "wide", "partly_wide", "switch", "gappy", "copy"])
        length = int(rng.integers(1, 12)) if kind == "short" else int(rng.integers(12, num_frames - 3))
        start = int(rng.integers(0, num_frames - length + 1))
        donor = DONORS[int(rng.integers(len(DONORS)))]
        rows = int(rng.integers(0, donor.num_frames - length + 1)) + np.arange(length)
        xyz = donor.xyz[rows] + np.array([rng.normal(0, 1), 0, rng.normal(0, 0.5)], np.float32)
        frames = np.arange(start, start + length)
        if kind == "wide":
            xyz = wide(xyz)
        elif kind == "partly_wide":
            xyz = wide(xyz, rng.random(length) < rng.uniform(0.5, 0.9))
        elif kind == "copy" and tracks:  # a second body with the same values as an earlier one: motion ties
            tracks.append(dataclasses.replace(tracks[-1], body_id=str(next_id)))
            next_id += int(rng.integers(1, 1000))
            continue
        if kind == "gappy":  # leaves and comes back: its rows are not where its frames are in PYSKL
            keep = np.ones(length, bool)
            keep[int(rng.integers(1, length - 1)):][:int(rng.integers(1, 8))] = False
            frames, rows, xyz = frames[keep], rows[keep], xyz[keep]
        pieces = [(frames, rows, xyz)]
        if kind == "switch":  # one person whose ID changes mid-sequence
            cut = int(rng.integers(1, length))
            pieces = [(frames[:cut], rows[:cut], xyz[:cut]), (frames[cut:], rows[cut:], xyz[cut:])]
        for f, r, x in pieces:
            tracks.append(body(donor, str(next_id), f, r, x))
            next_id += int(rng.integers(1, 1000))
    return skeleton_text(num_frames, tracks, rng)


def assert_same(text: str, fields=(0, 1, 2), field="xyz") -> np.ndarray | None:
    expected, actual = reference_keypoint(text, fields), production(text, field)
    if expected is None:
        assert actual is None
    else:
        assert actual is not None and actual.shape == expected.shape
        np.testing.assert_array_equal(actual, expected)
    return expected


@pytest.mark.parametrize("path", REAL, ids=[p.stem for p in REAL])
def test_real_samples_match_the_reference(path):
    text = path.read_text()
    keypoint = assert_same(text)
    assert keypoint.shape == (1, read_skeleton(path).num_frames, 25, 3)
    assert_same(text, (5, 6), "color_xy")


def test_generated_multi_body_files_match_the_reference():
    shapes = {}
    for seed in range(120):
        text = random_case(seed)
        keypoint = assert_same(text)
        if seed % 3 == 0:
            assert_same(text, (5, 6), "color_xy")
        shapes[seed] = None if keypoint is None else keypoint.shape[0]
    # the cases cover one and two slots and PYSKL's failures
    assert {1, 2, None} <= set(shapes.values())


def test_id_switch_joins_slot_0_and_short_noise_is_dropped():
    a, b, c = DONORS
    tracks = [body(a, "1", range(0, 30)), body(b, "2", range(30, 50), xyz=a.xyz[30:50]),
              body(c, "3", range(10, 15)), body(c, "4", range(5, 45), xyz=c.xyz[:40] * 0.05)]
    text = skeleton_text(50, tracks)
    keypoint = assert_same(text)
    assert keypoint.shape == (2, 50, 25, 3)
    np.testing.assert_array_equal(keypoint[0, 30:], a.xyz[30:50])  # the switched ID continues slot 0
    np.testing.assert_allclose(keypoint[1, 5:45], c.xyz[:40] * 0.05, rtol=1e-6)  # the still body: slot 1 (7 digits)


def test_wide_bodies_are_dropped_and_survivors_are_returned_as_is():
    a, b, _ = DONORS
    tracks = [body(a, "1", range(3, 40)), body(b, "2", range(0, 60), xyz=wide(b.xyz[:60]))]
    text = skeleton_text(60, tracks)
    keypoint = assert_same(text)
    # the lone survivor is returned as is: 37 frames, not placed at its start nor padded
    np.testing.assert_array_equal(keypoint, a.xyz[None, :37])


def test_empty_frames_are_skipped_and_slot_1_only_takes_later_tracks():
    a, b, c = DONORS
    # frames 0-4 and 60-63 empty, frames 30-34 empty: PYSKL's counter skips them
    tracks = [body(a, "1", range(5, 30)), body(b, "2", range(35, 60)), body(c, "3", range(10, 25)),
              body(c, "4", list(range(5, 8)) + list(range(35, 60)), rows=range(28), xyz=c.xyz[:28] * 0.1)]
    text = skeleton_text(64, tracks)
    keypoint = assert_same(text)
    assert keypoint.shape[0] == 2 and keypoint.shape[1] <= 50


def test_three_bodies_overlapping_drop_the_least_moving():
    a, b, c = DONORS
    tracks = [body(a, "1", range(40)), body(b, "2", range(40)), body(c, "3", range(40), xyz=c.xyz[:40] * 0.01)]
    keypoint = assert_same(skeleton_text(40, tracks))
    assert keypoint.shape == (2, 40, 25, 3)
    assert {bytes(keypoint[0]), bytes(keypoint[1])} == {bytes(a.xyz[:40]), bytes(b.xyz[:40])}


def test_slots_swap_when_slot_0_starts_late():
    a, b, _ = DONORS
    tracks = [body(a, "1", range(20, 60)), body(b, "2", range(0, 60), xyz=b.xyz[:60] * 0.2)]
    keypoint = assert_same(skeleton_text(60, tracks))
    np.testing.assert_allclose(keypoint[0], b.xyz[:60] * 0.2, rtol=1e-6)  # swapped: the one present first
    np.testing.assert_array_equal(keypoint[1, 20:], a.xyz[:40])


def test_no_surviving_track_is_an_error():
    a, b, _ = DONORS
    short = [Track(np.arange(5), a.xyz[:5], {}), Track(np.arange(5, 10), b.xyz[:5], {})]
    with pytest.raises(PysklRuleError, match="<= 11 frames"):
        select_tracks(short)
    noisy = [Track(np.arange(20), wide(a.xyz[:20]), {}), Track(np.arange(20), wide(b.xyz[:20]), {})]
    with pytest.raises(PysklRuleError, match="wider than tall"):
        select_tracks(noisy)
    with pytest.raises(PysklRuleError, match="no body"):
        select_tracks([])
