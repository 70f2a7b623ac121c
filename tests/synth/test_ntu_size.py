"""NTU-size synthetic datasets (`har-prep synth --size`): the real sample names, whole takes, byte-identity with the
per-sample generator, files the project's reader parses, small videos, and the command's flag checks."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from har.io.names import SampleName, missing_skeletons
from har.io.ntu_skeleton import read_skeleton
from har.io.skeleton_sources import skeleton_sources
from har.io.video import open_video
from har.layout import TWO_PERSON_ACTIONS
from har.parallel import ComputeSettings
from har.synth import MANIFEST, RGB_DIR, SKELETON_DIR, SynthConfig, action_class
from har.synth.generate import ARCHIVES
from har.synth.ntu_size import (
    SAMPLE_COUNTS,
    generate_ntu_size,
    ntu_action_class,
    ntu_sample_names,
    ntu_subset,
    spread,
    takes,
)
from har.synth.performance import family
from har.synth.sample import synthesize, synthesize_take_skeletons
from pipeline.cli import app

SYNC = ComputeSettings(scheduler="synchronous")
CONFIG = SynthConfig.tiny()


@pytest.mark.parametrize("size", ["ntu60", "ntu120"])
def test_every_real_name_once(size):
    names = [str(n) for n in ntu_sample_names(size)]
    assert len(names) == len(set(names)) == SAMPLE_COUNTS[size]
    assert names == sorted(names)
    # every name of the official missing-skeleton list is a real sample, so it must be in the grid
    assert missing_skeletons(size) <= set(names)
    per_action = Counter(n[-3:] for n in names)
    assert len(per_action) == (60 if size == "ntu60" else 120)
    if size == "ntu60":
        assert set(per_action.values()) == {948}  # 158 (setup, subject) pairs x 3 cameras x 2 replications


def test_ntu120_adds_setups_18_to_32_with_actions_61_to_120():
    ntu60 = set(ntu_sample_names("ntu60"))
    added = set(ntu_sample_names("ntu120")) - ntu60
    assert ntu60 < set(ntu_sample_names("ntu120"))
    assert {n.setup for n in added} == set(range(18, 33)) and {n.action for n in added} == set(range(61, 121))
    assert max(n.subject for n in added) == 106


def test_subset_keeps_whole_takes_and_covers_the_grid():
    subset = ntu_subset("ntu60", 1000)
    assert len(subset) == len(set(subset)) == 1000 and subset == sorted(subset, key=str)
    assert {n.setup for n in subset} == set(range(1, 18)) and {n.camera for n in subset} == {1, 2, 3}
    assert len({n.subject for n in subset}) == 40
    sizes = Counter(len(group) for group in takes(subset))
    assert sizes == Counter({3: 333, 1: 1})  # 334 takes, the last one cut to one camera
    assert spread(list(range(10)), 3) == [0, 3, 6] and spread([1, 2], None) == [1, 2]
    with pytest.raises(ValueError, match="at least 1"):
        spread([1, 2, 3], 0)


def test_every_action_has_a_class_with_the_right_number_of_people():
    for action in range(1, 121):
        cls = ntu_action_class(action)
        assert cls.action == action
        assert family(cls.family).persons == (2 if action in TWO_PERSON_ACTIONS else 1)
    assert ntu_action_class(1) == action_class(1)  # the catalogue's own classes are kept
    with pytest.raises(ValueError, match="A121"):
        ntu_action_class(121)


def test_take_skeletons_equal_the_per_sample_generator():
    names = tuple(SampleName(3, camera, 15, 2, 58) for camera in (1, 2, 3))  # two-person take
    shared = synthesize_take_skeletons(action_class(58), names, 5, CONFIG)
    for name, (text, stats) in zip(names, shared):
        alone, _, alone_stats = synthesize(action_class(58), name, 5, CONFIG)
        assert text == alone and stats == alone_stats
    assert len({text for text, _ in shared}) == 3  # three views of one performance, not copies
    with pytest.raises(ValueError, match="one take"):
        synthesize_take_skeletons(action_class(58), (names[0], SampleName(3, 2, 15, 1, 58)), 5, CONFIG)


def test_skeleton_only_dataset_is_read_by_the_project_reader(tmp_path):
    manifest = generate_ntu_size(tmp_path / "raw", "ntu120", CONFIG, 3, SYNC, count=40, progress=False)
    files = sorted((tmp_path / "raw" / SKELETON_DIR).glob("*.skeleton"))
    expected = [f"{n}.skeleton" for n in ntu_subset("ntu120", 40)]
    assert [f.name for f in files] == expected
    assert not any((tmp_path / "raw" / RGB_DIR).iterdir())
    assert manifest == json.loads((tmp_path / "raw" / MANIFEST).read_text())
    assert manifest["num_samples"] == 40 and manifest["video"] is None and "actions" not in manifest["config"]
    for path in files:
        parsed = read_skeleton(path)
        assert CONFIG.min_frames <= parsed.num_frames <= CONFIG.max_frames
        assert 1 <= len(parsed.tracks) and np.isfinite(parsed.tracks[0].xyz).all()
    assert manifest["stats"]["skeleton_bytes"] == sum(f.stat().st_size for f in files)
    again = generate_ntu_size(tmp_path / "again", "ntu120", CONFIG, 3, ComputeSettings(workers=2), count=40,
                              progress=False)
    assert again == manifest
    assert all(f.read_bytes() == (tmp_path / "again" / SKELETON_DIR / f.name).read_bytes() for f in files)


def test_skeletons_can_come_in_ntus_zip_archives(tmp_path):
    """--zip: the same .skeleton bytes as members of NTU's two archives (setups 1-17 and 18-32), read in place."""
    generate_ntu_size(tmp_path / "files", "ntu120", CONFIG, 3, SYNC, count=40, progress=False)
    manifest = generate_ntu_size(tmp_path / "zips", "ntu120", CONFIG, 3, SYNC, count=40, archives=True,
                                 progress=False)
    assert manifest["skeleton_archives"] and not (tmp_path / "zips" / SKELETON_DIR).exists()
    assert sorted(p.name for p in (tmp_path / "zips").glob("*.zip")) == list(ARCHIVES)
    sources = skeleton_sources(tmp_path / "zips")
    assert [s.name for s in sources] == [str(n) for n in ntu_subset("ntu120", 40)]
    for source in sources:
        assert source.read() == (tmp_path / "files" / SKELETON_DIR / f"{source.name}.skeleton").read_bytes()
        assert source.path.endswith(ARCHIVES[0] if int(source.name[1:4]) <= 17 else ARCHIVES[1])


def test_small_videos_have_a_frame_per_skeleton_frame(tmp_path):
    config = SynthConfig.tiny(width=64, height=36)
    generate_ntu_size(tmp_path / "raw", "ntu60", config, 1, SYNC, count=2, video=True, progress=False)
    for path in sorted((tmp_path / "raw" / SKELETON_DIR).glob("*.skeleton")):
        frames = read_skeleton(path).num_frames
        with open_video(tmp_path / "raw" / RGB_DIR / f"{path.stem}_rgb.avi", expected_frames=frames) as video:
            assert (video.info.width, video.info.height) == (64, 36)
            assert len(list(video.selected(range(frames)))) == frames


@pytest.mark.parametrize("args, message", [
    (["--size", "ntu60"], "--skeleton-only, or --video-size"),
    (["--size", "ntu60", "--skeleton-only", "--video-size", "64x36"], "--skeleton-only, or --video-size"),
    (["--size", "ntu90", "--skeleton-only"], "expected ntu60 or ntu120"),
    (["--samples", "5"], "needs --size"),
    (["--size", "ntu60", "--video-size", "64by36"], "WIDTHxHEIGHT"),
])
def test_synth_size_flags_are_checked(args, message, tmp_path):
    result = CliRunner().invoke(app, ["synth", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()


def test_synth_size_command(tmp_path):
    result = CliRunner().invoke(app, ["synth", str(tmp_path / "out"), "--size", "ntu60", "--samples", "4",
                                      "--skeleton-only", "--quiet", "--params", str(tmp_path / "none.yaml")])
    assert result.exit_code == 0, result.output
    assert "num_samples=4, of=56880, takes=2" in result.output
    assert len(list((tmp_path / "out" / SKELETON_DIR).glob("*.skeleton"))) == 4
