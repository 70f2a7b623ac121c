"""Sequential decoding of NTU `_rgb.avi` videos with OpenCV, retrieving only the frames a stage needs.

Each video is decoded once, front to back: every frame is `grab()`bed (demuxed and decoded, which a
sequential codec cannot skip), but only the wanted ones are `retrieve()`d, so the colour conversion to a BGR
image is paid for those frames alone; decoding stops right after the last wanted frame. The frame count in
the container (`CAP_PROP_FRAME_COUNT`) is checked against the skeleton file's before anything is decoded, and a
decode that runs out before the last wanted frame is reported too (a file cut short keeps its header's count).
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from har.errors import HarError

RGB_DIR = "nturgb+d_rgb"


class VideoError(HarError, ValueError):
    """A video that is missing, cannot be decoded, or does not match its skeleton file."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: frame count and frame size in pixels."""
    frame_count: int
    height: int
    width: int


def video_path(source: str | Path, sample: str) -> Path:
    """Where the NTU layout keeps a sample's video: <source>/nturgb+d_rgb/<sample>_rgb.avi."""
    return Path(source) / RGB_DIR / f"{sample}_rgb.avi"


class SequentialVideo:
    """An opened video, read once from the start. Use through `open_video`. `decode_seconds`: wall time spent so
    far in decoding (grab and retrieve), apart from what the caller does with the frames."""

    def __init__(self, capture: cv2.VideoCapture, path: Path, info: VideoInfo):
        self._capture, self.path, self.info = capture, path, info
        self._next = 0  # index of the frame the next grab() decodes
        self.decode_seconds = 0.0

    def selected(self, wanted: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (frame index, (H, W, 3) uint8 BGR image) for each distinct wanted index, in increasing order.

        Frames before the first wanted one and between wanted ones are grabbed, never retrieved; nothing after
        the last wanted frame is decoded. Can be called once per opened video (decoding only moves forward).
        """
        targets = sorted({int(i) for i in wanted})
        if targets and (targets[0] < self._next or targets[-1] >= self.info.frame_count):
            raise ValueError(f"{self.path}: wanted frames {targets[0]}..{targets[-1]} outside the frames still "
                             f"ahead ({self._next}..{self.info.frame_count - 1})")
        for target in targets:
            began = time.perf_counter()
            while self._next <= target:
                if not self._capture.grab():
                    raise VideoError(f"{self.path}: decoding ran out at frame {self._next} although the "
                                     f"container reports {self.info.frame_count} frames (truncated or corrupt)")
                self._next += 1
            ok, image = self._capture.retrieve()
            if not ok or image is None:
                raise VideoError(f"{self.path}: frame {target} was decoded but could not be retrieved")
            self.decode_seconds += time.perf_counter() - began
            if image.shape != (self.info.height, self.info.width, 3) or image.dtype != np.uint8:
                raise VideoError(f"{self.path}: frame {target} is {image.shape} {image.dtype}, expected "
                                 f"({self.info.height}, {self.info.width}, 3) uint8")
            yield target, image


@contextmanager
def open_video(path: str | Path, expected_frames: int | None = None) -> Iterator[SequentialVideo]:
    """Open a video for one sequential pass; VideoError when it is missing, undecodable, or its frame count
    differs from expected_frames (the skeleton file's frame count)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file is missing")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise VideoError(f"{path}: OpenCV (FFMPEG) cannot open or decode this video")
        info = VideoInfo(frame_count=int(round(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
                         height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                         width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)))
        if info.frame_count <= 0 or info.height <= 0 or info.width <= 0:
            raise VideoError(f"{path}: undecodable video (reports {info.frame_count} frames of "
                             f"{info.width}x{info.height})")
        if expected_frames is not None and info.frame_count != expected_frames:
            raise VideoError(f"{path}: video has {info.frame_count} frames but the skeleton file has "
                             f"{expected_frames}")
        yield SequentialVideo(capture, path, info)
    finally:
        capture.release()
