"""The synthetic `_rgb.avi`: Motion JPEG from OpenCV's own writer, intra-only, with bytes that depend neither on
OpenCV's thread count nor on an FFmpeg version, decoding to the rendered frames up to JPEG loss."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import har.synth.sample as sample_module
from har.io.names import SampleName
from har.io.video import open_video
from har.synth import SynthConfig, action_class
from har.synth.render import write_avi

CONFIG = SynthConfig.tiny()
NAME = SampleName(1, 2, 1, 1, 58)  # handshaking: two people, so every kind of primitive is drawn


@pytest.fixture(scope="module")
def rendered():
    """(frames the renderer produced, the .avi bytes synthesize returned) for one sample."""
    captured = []
    real_write = sample_module.write_avi

    def recording_write(path, frames):
        def keep():
            for frame in frames:
                captured.append(frame.copy())
                yield frame
        return real_write(path, keep())

    patch = pytest.MonkeyPatch()
    patch.setattr(sample_module, "write_avi", recording_write)
    try:
        _, video, stats = sample_module.synthesize(action_class(NAME.action), NAME, 5, CONFIG)
    finally:
        patch.undo()
    assert len(captured) == stats["frames"] > 0
    return captured, video


def _decode(path, count: int) -> list[np.ndarray]:
    with open_video(path, expected_frames=count) as opened:  # the reader every stage uses
        return [image for _, image in opened.selected(range(count))]


def test_video_is_intra_only_mjpeg_close_to_the_rendered_frames(rendered, tmp_path):
    frames, video = rendered
    path = tmp_path / f"{NAME}_rgb.avi"
    path.write_bytes(video)
    capture = cv2.VideoCapture(str(path))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    capture.release()
    assert fourcc == "MJPG"  # every frame an independent JPEG: no inter-frame prediction to drift
    decoded = _decode(path, len(frames))
    assert len(decoded) == len(frames)
    for index, (want, got) in enumerate(zip(frames, decoded)):
        assert got.dtype == np.uint8 and got.shape == want.shape
        mse = float(np.mean((got.astype(np.float64) - want) ** 2))
        assert 10 * np.log10(255.0 ** 2 / max(mse, 1e-12)) > 30.0, f"frame {index}: PSNR below 30 dB"


def test_decoded_frames_do_not_depend_on_opencv_threads(rendered, tmp_path):
    frames, video = rendered
    path = tmp_path / f"{NAME}_rgb.avi"
    path.write_bytes(video)
    previous = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        one = _decode(path, len(frames))
        cv2.setNumThreads(4)
        four = _decode(path, len(frames))
    finally:
        cv2.setNumThreads(previous)
    assert all(np.array_equal(a, b) for a, b in zip(one, four))


def test_video_bytes_do_not_depend_on_opencv_threads(rendered, tmp_path):
    frames, video = rendered
    previous = cv2.getNumThreads()
    written = {}
    try:
        for run, threads in enumerate((1, 2, 8, 1)):
            cv2.setNumThreads(threads)
            path = tmp_path / f"run{run}_rgb.avi"
            assert write_avi(path, iter(frames)) == len(frames)
            written[(run, threads)] = path.read_bytes()
    finally:
        cv2.setNumThreads(previous)
    assert len(set(written.values())) == 1, f"sizes per (run, threads): {({k: len(v) for k, v in written.items()})}"
    assert written[(0, 1)] == video  # and the same bytes as synthesize wrote, under the default thread count


def test_video_embeds_no_ffmpeg_version(rendered):
    """No FFmpeg component wrote the file: an MPEG-4 stream carries 'Lavc<version>' in every key frame and FFmpeg's
    AVI muxer 'Lavf<version>' in its INFO list, so those bytes changed with every wheel release."""
    _, video = rendered
    assert b"Lavc" not in video and b"Lavf" not in video
