"""The NTU RGB+D `.skeleton` text format: data model and writer (the reader is in `ntu_skeleton.py`).

Layout (DESIGN.md §3): frame count; per frame a body count; per body a line of 10 tokens
(bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState isRestricted leanX leanY
trackingState), a joint count (25), then 25 lines of 12 tokens
(x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ trackingState).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from har.errors import HarError

# Integer body-info fields, in file order (leanX/leanY, the floats, sit between isRestricted and trackingState).
BODY_INFO_FIELDS = ("clipped_edges", "hand_left_confidence", "hand_left_state", "hand_right_confidence",
                    "hand_right_state", "is_restricted", "tracking_state")
JOINT_FIELDS = ("x", "y", "z", "depth_x", "depth_y", "color_x", "color_y",
                "orientation_w", "orientation_x", "orientation_y", "orientation_z", "tracking_state")
NUM_JOINTS = 25
BODY_TOKENS = 10
JOINT_TOKENS = 12


class SkeletonFormatError(HarError, ValueError):
    """A malformed `.skeleton` file; the message names the file, the line and what was expected."""

    def __init__(self, path, line: int | None, message: str):
        self.path, self.line, self.reason = str(path), line, message
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, eq=False)
class BodyTrack:
    """Every frame of one Kinect body in one file (lossless).

    body_id: str (Kinect IDs exceed 2**53; as floats two people could merge)
    frames: (F,) int32 indices into the file's frames, increasing
    xyz: (F, 25, 3) float32 metres, camera space    depth_xy: (F, 25, 2) float32 depth-frame pixels
    color_xy: (F, 25, 2) float32 RGB-frame pixels   orientation: (F, 25, 4) float32 quaternion (w, x, y, z)
    tracking: (F, 25) int8 joint trackingState (0 not tracked, 1 inferred, 2 tracked)
    body_info: (F, 7) int32 in BODY_INFO_FIELDS order   lean: (F, 2) float32 (leanX, leanY)
    """
    body_id: str
    frames: np.ndarray
    xyz: np.ndarray
    depth_xy: np.ndarray
    color_xy: np.ndarray
    orientation: np.ndarray
    tracking: np.ndarray
    body_info: np.ndarray
    lean: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass(frozen=True, eq=False)
class SkeletonFile:
    """A parsed `.skeleton` file: its frame count, bodies per frame and body tracks (in order of first
    appearance, ties broken by order within the frame)."""
    path: str
    num_frames: int
    bodies_per_frame: np.ndarray  # (num_frames,) int32
    tracks: tuple[BodyTrack, ...]


# One body-frame after its bodyID: the body-info line, the joint count and 25 joint lines. Kinect's SDK writes C#
# floats: 7 significant digits, upper-case exponent (7.257856E-05); '%.7g' then e -> E gives exactly that.
_BODY_FORMAT = " ".join(["%d"] * 6 + ["%.7g", "%.7g", "%d"])
_JOINT_FORMAT = " ".join(["%.7g"] * (JOINT_TOKENS - 1) + ["%d"])


def _body_frame_texts(track: BodyTrack, line_ending: str) -> list[str]:
    """The text of each of the track's body-frames (no final line ending), each formatted by one % operation over
    its 309 numbers (all exact in float64: float32 values, int8 / int32 integers)."""
    template = line_ending.join([_BODY_FORMAT, str(NUM_JOINTS)] + [_JOINT_FORMAT] * NUM_JOINTS)
    joints = np.concatenate([track.xyz, track.depth_xy, track.color_xy, track.orientation,
                             track.tracking[..., None]], axis=-1, dtype=np.float64)
    numbers = np.concatenate([track.body_info[:, :6], track.lean, track.body_info[:, 6:],
                              joints.reshape(len(joints), -1)], axis=1, dtype=np.float64)
    prefix = track.body_id + " "
    return [prefix + (template % tuple(row)).replace("e", "E") for row in numbers.tolist()]


def format_skeleton(num_frames: int, frames: Sequence[Sequence[tuple[BodyTrack, int]]],
                    line_ending: str = "\r\n") -> str:
    """Text of a `.skeleton` file.

    frames: for each of num_frames frames, the bodies present in file order, each as (track, row) where row
    indexes the track's arrays. Bodies may be listed in any order within a frame, as Kinect does.
    """
    if len(frames) != num_frames:
        raise ValueError(f"{len(frames)} frame lists for num_frames={num_frames}")
    texts: dict[BodyTrack, list[str]] = {}  # every body-frame of a track, formatted when the track first appears
    out: list[str] = [str(num_frames)]
    for bodies in frames:
        out.append(str(len(bodies)))
        for track, row in bodies:
            if track not in texts:
                texts[track] = _body_frame_texts(track, line_ending)
            out.append(texts[track][row])
    return line_ending.join(out) + line_ending


def frames_from_tracks(num_frames: int, tracks: Sequence[BodyTrack]) -> list[list[tuple[BodyTrack, int]]]:
    """Per-frame body lists (tracks in the given order) for format_skeleton."""
    frames: list[list[tuple[BodyTrack, int]]] = [[] for _ in range(num_frames)]
    for track in tracks:
        for row, frame in enumerate(track.frames):
            frames[int(frame)].append((track, row))
    return frames


def write_skeleton(path, num_frames: int, tracks: Sequence[BodyTrack], line_ending: str = "\r\n",
                   frames: Sequence[Sequence[tuple[BodyTrack, int]]] | None = None) -> None:
    """Write tracks as a `.skeleton` file (bodies per frame in track order unless `frames` gives the order)."""
    frames = frames_from_tracks(num_frames, tracks) if frames is None else frames
    text = format_skeleton(num_frames, frames, line_ending)
    with open(path, "w", newline="") as handle:
        handle.write(text)
