"""The generated dataset on disk: layout, exact .skeleton format, videos, splits, artefacts, determinism."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from har.io.names import parse_sample_name
from har.io.ntu_skeleton import parse_skeleton
from har.layout import benchmark_splits
from har.parallel import ComputeSettings
from har.synth import MANIFEST, RGB_DIR, SKELETON_DIR, SynthConfig, generate_dataset, sample_names

KINECT_ID_BASE = 2 ** 56
END_JOINTS = (3, 15, 19, 21, 22, 23, 24)  # 0-based: Kinect gives them no orientation
# Many ghosts and empty starts so that a small set surely shows both; 2 classes x 3 subjects x 2 cameras.
CONFIG = SynthConfig.tiny(actions=(1, 58), ghost_probability=0.5, leading_empty_probability=0.5)
SEED = 7


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "raw"
    manifest = generate_dataset(out, CONFIG, SEED, ComputeSettings(scheduler="synchronous"), progress=False)
    return out, manifest


def parse_text(raw: bytes):
    """A deliberately simple reader of the NTU text format: per frame a list of (body line tokens, (25, 12))."""
    text = raw.decode("ascii")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), "lines must end in CRLF"
    lines = text.split("\r\n")[:-1]
    pos, frames = 1, []
    for _ in range(int(lines[0])):
        bodies = []
        for _ in range(int(lines[pos])):
            head = lines[pos + 1].split()
            assert len(head) == 10 and lines[pos + 2] == "25"
            rows = [lines[pos + 3 + j].split() for j in range(25)]
            assert all(len(r) == 12 for r in rows)
            bodies.append((head, np.array(rows, dtype=np.float64)))
            pos += 27
        pos += 1
        frames.append(bodies)
    assert pos == len(lines), "trailing lines after the last frame"
    return frames


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return fps, frames


def test_layout_and_manifest(dataset):
    out, manifest = dataset
    names = [str(n) for n in sample_names(CONFIG)]
    assert len(names) == CONFIG.num_samples == 12
    assert sorted(p.name for p in (out / SKELETON_DIR).iterdir()) == [f"{n}.skeleton" for n in names]
    assert sorted(p.name for p in (out / RGB_DIR).iterdir()) == [f"{n}_rgb.avi" for n in names]
    on_disk = json.loads((out / MANIFEST).read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert on_disk["seed"] == SEED and on_disk["num_samples"] == 12
    assert on_disk["appearance_pairs"] == []  # A003 is not in this set
    assert [c["action"] for c in on_disk["classes"]] == [1, 58]
    assert on_disk["classes"][0]["name"] == "drink water" and on_disk["classes"][1]["two_person"]
    assert on_disk["config"]["actions"] == [1, 58] and on_disk["video"]["fps"] == 30.0
    assert not list(out.parent.glob("raw.tmp-*")), "the temporary directory must be renamed away"


def test_names_parse_and_official_splits_divide_them(dataset):
    out, _ = dataset
    parsed = [parse_sample_name(p.name) for p in sorted((out / SKELETON_DIR).iterdir())]
    splits = benchmark_splits("ntu60", np.array([p.setup for p in parsed]), np.array([p.camera for p in parsed]),
                              np.array([p.subject for p in parsed]))
    subjects = np.array([p.subject for p in parsed])
    assert set(subjects[splits["xsub"]["train"]]) == {1, 2} and set(subjects[splits["xsub"]["test"]]) == {3}
    cameras = np.array([p.camera for p in parsed])
    assert set(cameras[splits["xview"]["train"]]) == {2} and set(cameras[splits["xview"]["test"]]) == {1}


def test_skeleton_files_follow_the_kinect_format(dataset):
    out, _ = dataset
    for path in sorted((out / SKELETON_DIR).iterdir()):
        frames = parse_text(path.read_bytes())
        assert CONFIG.min_frames <= len(frames) <= CONFIG.max_frames
        for bodies in frames:
            for head, joints in bodies:
                body_id = int(head[0])
                assert KINECT_ID_BASE < body_id < KINECT_ID_BASE + 10 ** 6
                assert head[6] == "0" and head[9] == "2"  # isRestricted, body trackingState
                assert all(-1.0 <= float(v) <= 1.0 for v in head[7:9])  # lean
                assert set(joints[:, 11]) <= {1.0, 2.0}
                assert np.all(joints[list(END_JOINTS), 7:11] == 0)
                others = np.delete(joints[:, 7:11], END_JOINTS, axis=0)
                assert np.allclose(np.linalg.norm(others, axis=1), 1.0, atol=1e-5)
        # The project's own reader accepts the file and sees the same frames.
        parsed = parse_skeleton(path.read_bytes(), str(path))
        assert parsed.num_frames == len(frames)
        assert list(parsed.bodies_per_frame) == [len(b) for b in frames]


def test_ghosts_and_empty_leading_frames_occur_and_are_removable(dataset):
    out, manifest = dataset
    assert manifest["stats"]["samples_with_ghosts"] > 0 and manifest["stats"]["samples_with_leading_empty"] > 0
    ghosts = leading = 0
    for path in sorted((out / SKELETON_DIR).iterdir()):
        performers = 2 if path.name.endswith("A058.skeleton") else 1
        parsed = parse_skeleton(path.read_bytes(), str(path))
        leading += int(parsed.bodies_per_frame[0] == 0)
        tracks = sorted(parsed.tracks, key=lambda t: -t.num_frames)
        assert len(tracks) >= performers
        for rank, track in enumerate(tracks):
            spread = track.xyz.max(axis=1) - track.xyz.min(axis=1)
            noisy = spread[:, 0] > 0.8 * spread[:, 1]
            if rank < performers:  # kept by the standard NTU denoising
                assert track.num_frames > 11 and noisy.mean() < 0.69754
            else:  # dropped by it (too short, and too wide anyway)
                ghosts += 1
                assert track.num_frames <= 11 and noisy.all()
    assert ghosts == manifest["stats"]["ghost_tracks"] > 0
    assert leading == manifest["stats"]["samples_with_leading_empty"] > 0


def test_videos_have_one_frame_per_skeleton_frame_at_30_fps(dataset):
    out, _ = dataset
    for name in ("S001C001P001R001A001", "S001C002P003R001A058"):
        skeleton = parse_skeleton((out / SKELETON_DIR / f"{name}.skeleton").read_bytes(), name)
        fps, frames = read_video(out / RGB_DIR / f"{name}_rgb.avi")
        assert fps == 30.0
        assert len(frames) == skeleton.num_frames
        assert frames[0].shape == (CONFIG.height, CONFIG.width, 3)


def test_same_seed_same_bytes_whatever_the_scheduler(dataset, tmp_path):
    out, _ = dataset
    config = SynthConfig.tiny(actions=(1, 58), num_subjects=1, ghost_probability=0.5,
                              leading_empty_probability=0.5)
    again = tmp_path / "again"
    generate_dataset(again, config, SEED, ComputeSettings(scheduler="threads", workers=2, block_size=3),
                     progress=False)
    for name in sample_names(config):
        for folder, suffix in ((SKELETON_DIR, ".skeleton"), (RGB_DIR, "_rgb.avi")):
            first = (out / folder / f"{name}{suffix}").read_bytes()
            assert (again / folder / f"{name}{suffix}").read_bytes() == first, f"{name}{suffix} differs"
