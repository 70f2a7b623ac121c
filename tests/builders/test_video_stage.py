"""The `video` stage: one decode per video -> rgb_clips, part_crops, stroi (har.builders.video, pipeline.video).

Real NTU sample (1920x1080 H.264, 103 frames): the clip frames the person, the hand crops sit on the hands, the
ST-ROI mosaic is not blank and each cell is cut around its joint from the right frame. Tiny synthetic set: all
three stores aligned, bad videos quarantined, byte-identical across runs and schedulers.
"""
from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from har.builders.ingest import ingest_raw
from har.builders.poses import Pose2D, PoseOptions, pose_2d
from har.builders.video import VideoOptions, VideoStageError, VideoStores, build_video
from har.builders.video_sample import VideoSample, plan_sample, render_sample, video_sample
from har.io.interim import InterimReader
from har.io.shards import Kept
from har.io.store import open_store, read_meta, read_splits
from har.io.video import RGB_DIR, VideoInfo, open_video, video_path
from har.layout import CROP_PARTS, STROI_PARTS
from har.parallel import ComputeSettings
from har.synth.config import SynthConfig
from har.synth.generate import generate_dataset
from har.transforms.box import crop_and_resize, keypoints_to_box_frame
from har.transforms.denoise import DenoiseConfig
from pipeline.params import as_record

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ntu-samples"  # real NTU files shipped with the tests
REAL = "S001C001P001R001A001"
SYNC = ComputeSettings(scheduler="synchronous", block_size=5)
FIELDS = ["xyz", "color_xy", "tracking"]


def _ingest(raw: Path, out: Path) -> Path:
    ingest_raw(raw, out, out.parent / f"{out.name}_quarantine.csv", SYNC, progress=False)
    return out


def _stores(folder: Path) -> VideoStores:
    return VideoStores(folder / "rgb_clips.zarr", folder / "part_crops.zarr", folder / "stroi.zarr")


# --- the real NTU sample -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real(tmp_path_factory):
    raw = tmp_path_factory.mktemp("real_raw")
    (raw / "nturgb+d_skeletons").mkdir()
    (raw / RGB_DIR).mkdir()
    (raw / "nturgb+d_skeletons" / f"{REAL}.skeleton").symlink_to(SAMPLES / f"{REAL}.skeleton")
    (raw / RGB_DIR / f"{REAL}_rgb.avi").symlink_to(SAMPLES / f"{REAL}_rgb.avi")
    store = _ingest(raw, raw.parent / "real_skeletons.zarr")
    item = next(InterimReader(open_store(store)).iter_blocks(1, fields=FIELDS))[0]
    item["video"] = str(video_path(raw, REAL))
    options = VideoOptions()
    outcome = video_sample(item, options)
    assert isinstance(outcome, Kept), outcome
    result = outcome.value
    assert isinstance(result, VideoSample)
    pose = pose_2d(item, DenoiseConfig(), PoseOptions().box_padding)
    with open_video(item["video"], 103) as video:  # two ST-ROI frames, decoded on their own for comparison
        frames = dict(video.selected(result.plan.stroi_frames[:2]))
    return {"result": result, "pose": pose, "frames": frames, "options": options}


def test_real_clip_is_centred_on_the_person(real):
    result, pose = real["result"], real["pose"]
    assert result.video_size == (1080, 1920)
    assert result.clip.shape == (16, 64, 64, 3) and result.clip.dtype == np.uint8
    x0, y0, x1, y1 = result.plan.clip_box
    assert 0 <= x0 < x1 <= 1920 and 0 <= y0 < y1 <= 1080  # the person box lies inside the frame
    mapped = keypoints_to_box_frame(pose.keypoints, result.plan.clip_box, (64, 64))
    centre = np.nanmean(mapped.reshape(-1, 2), axis=0)
    assert np.all(np.abs(centre - 32) < 8)  # the joints' mean lands near the clip's centre
    middle = result.clip[:, 16:48, 16:48].astype(float)
    assert middle.std() > 20  # not a blank frame
    far_box = (0.0, 0.0, x1 - x0, y1 - y0)  # the same size at the frame's top-left corner, away from the person
    frame = next(iter(real["frames"].values()))
    far = crop_and_resize(frame, far_box, (64, 64))[..., ::-1][16:48, 16:48].astype(float)
    assert np.abs(middle.mean(axis=0) - far).mean() > 25


def test_real_hand_crops_contain_the_hands(real):
    result, pose = real["result"], real["pose"]
    assert result.crops.shape == (3, 16, 32, 32, 3)
    positions = np.searchsorted(pose.frames, result.plan.clip_frames)
    for p, (name, joints) in enumerate(CROP_PARTS[:2]):
        for t, position in enumerate(positions):
            hand = pose.keypoints[0, position, list(joints)]
            mapped = keypoints_to_box_frame(hand, result.plan.part_boxes[p, t], (32, 32))
            assert np.nanmax(np.abs(mapped - 16)) < 12, (name, t)  # inside the crop, near its centre
        assert result.crops[p].reshape(16, -1, 3).std(axis=1).min() > 8, name  # never a flat patch
    assert result.crops[2].std() > 20


def test_real_stroi_mosaic_is_not_blank_and_cells_are_cut_around_their_joints(real):
    result, pose, frames = real["result"], real["pose"], real["frames"]
    mosaic, plan = result.mosaic, result.plan
    assert mosaic.shape == (160, 160, 3)
    cells = mosaic.reshape(5, 32, 5, 32, 3).transpose(0, 2, 1, 3, 4).reshape(25, -1).astype(float)
    assert cells.std(axis=1).min() > 5 and 10 < cells.mean(axis=1).min()  # no blank or black cell
    positions = np.searchsorted(pose.frames, plan.stroi_frames)
    side = 96.0  # a 1080-line video uses the paper's 96-pixel sub-ROIs
    for k, (_name, joint) in enumerate(STROI_PARTS):
        for column, position in enumerate(positions):
            box = plan.roi_boxes[0, k, column]
            np.testing.assert_allclose(box[2:] - box[:2], side)
            np.testing.assert_allclose((box[:2] + box[2:]) / 2, pose.keypoints[0, position, joint], atol=1e-3)
        for column in range(2):  # the cell holds exactly the crop of that frame around that joint
            expected = crop_and_resize(frames[int(plan.stroi_frames[column])], plan.roi_boxes[0, k, column],
                                       (32, 32))[..., ::-1]
            np.testing.assert_array_equal(mosaic[32 * k:32 * (k + 1), 32 * column:32 * (column + 1)], expected)


class _PaintedVideo:
    """Stands in for an opened video: every frame is grey with a BGR marker square at each given point."""

    def __init__(self, points: dict, height: int = 270, width: int = 480):
        self.points, self.shape, self.read = points, (height, width, 3), []
        self.info = VideoInfo(frame_count=1000, height=height, width=width)

    def selected(self, wanted):
        for frame in sorted(set(int(w) for w in wanted)):
            image = np.full(self.shape, 100, np.uint8)
            for (x, y), bgr in self.points.items():
                image[y - 3:y + 4, x - 3:x + 4] = bgr
            self.read.append(frame)
            yield frame, image


def test_two_person_cells_hold_one_half_per_actor_in_rgb():
    keypoints = np.full((2, 20, 25, 2), np.nan, np.float32)
    rng = np.random.default_rng(1)
    keypoints[0] = rng.uniform([40, 40], [200, 230], (20, 25, 2))
    keypoints[1] = rng.uniform([280, 40], [440, 230], (20, 25, 2))
    head0, head1 = (100, 60), (360, 70)
    keypoints[0, :, 3], keypoints[1, :, 3] = head0, head1
    pose = Pose2D(frames=np.arange(5, 25), keypoints=keypoints, scores=None, box=(0.0, 0.0, 480.0, 270.0))
    options = VideoOptions(roi_out=16)
    plan = plan_sample(pose, 270, options)
    video = _PaintedVideo({head0: (0, 0, 255), head1: (255, 0, 0)})  # BGR: actor 0 red, actor 1 blue
    clip, crops, mosaic = render_sample(video, plan, options)
    assert video.read == sorted(set(plan.clip_frames.tolist()) | set(plan.stroi_frames.tolist()))
    assert plan.roi_boxes.shape == (2, 5, 5, 4) and mosaic.shape == (80, 80, 3)
    for column in range(5):
        left, right = mosaic[8, 16 * column + 4], mosaic[8, 16 * column + 12]
        np.testing.assert_array_equal(left, [255, 0, 0])  # actor 0's head marker, stored as RGB red
        np.testing.assert_array_equal(right, [0, 0, 255])  # actor 1's head marker, blue


class _TexturedVideo:
    """Stands in for an opened video: frame f is a fixed random texture seeded by f."""

    def __init__(self, height: int = 270, width: int = 480):
        self.shape = (height, width, 3)
        self.info = VideoInfo(frame_count=1000, height=height, width=width)

    def frame(self, number: int) -> np.ndarray:
        return np.random.default_rng(number).integers(0, 256, self.shape, dtype=np.uint8)

    def selected(self, wanted):
        for frame in sorted(set(int(w) for w in wanted)):
            yield frame, self.frame(frame)


def test_rendered_crops_equal_crop_and_resize_of_their_frames():
    """Every clip frame, part crop and ST-ROI cell is crop_and_resize of its frame and box (in RGB), including
    frames shown twice, boxes over the image's edge and shrinks that need halving."""
    rng = np.random.default_rng(4)
    keypoints = np.stack([rng.uniform([-20, 10], [300, 280], (12, 25, 2)),
                          rng.uniform([200, 10], [470, 260], (12, 25, 2))]).astype(np.float32)
    pose = Pose2D(frames=np.arange(3, 15), keypoints=keypoints, scores=None, box=(-40.0, -30.0, 330.0, 340.0))
    options = VideoOptions(roi_size=300.0)  # 75-pixel ROIs at 270 lines: cells shrink and need halving too
    plan = plan_sample(pose, 270, options)
    video = _TexturedVideo()
    clip, crops, mosaic = render_sample(video, plan, options)
    assert len(set(plan.clip_frames.tolist())) < len(plan.clip_frames)  # 12 frames for 16: some shown twice
    for t, number in enumerate(plan.clip_frames.tolist()):
        frame = video.frame(number)
        np.testing.assert_array_equal(clip[t], crop_and_resize(frame, plan.clip_box, (64, 64))[..., ::-1])
        for p, box in enumerate(plan.part_boxes[:, t]):
            np.testing.assert_array_equal(crops[p, t], crop_and_resize(frame, box, (32, 32))[..., ::-1])
    for column, number in enumerate(plan.stroi_frames.tolist()):
        for q in range(2):
            for k in range(len(STROI_PARTS)):
                expected = crop_and_resize(video.frame(number), plan.roi_boxes[q, k, column], (32, 16))[..., ::-1]
                np.testing.assert_array_equal(mosaic[32 * k:32 * (k + 1), 32 * column + 16 * q:][:, :16], expected)


# --- the stage on a tiny synthetic set ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny synthetic set, ingested, and the stage run through pipeline.video.run from a project folder."""
    from pipeline import video
    root = tmp_path_factory.mktemp("tiny")
    raw = root / "raw"
    generate_dataset(raw, SynthConfig.tiny(), 3, SYNC, progress=False)
    store = _ingest(raw, root / "data" / "interim" / "skeletons.zarr")
    every = {"stores": ["rgb_clips", "part_crops", "stroi"], "poses": "default", "hand_scale": 0.3}
    params = {"compute": {"scheduler": "synchronous", "block_size": 5}, "ingest": {"source": str(raw)},
              "poses": {"variants": {"default": {}}}, "denoise": {"max_actors": 2},
              # a second variant writing the part crops alone (as a variant made for one model would)
              "video": {"variants": {"default": every, "crops": {**every, "stores": ["part_crops"]}}}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    cwd = Path.cwd()
    os.chdir(root)  # stage paths are relative to the project root
    try:
        summary = video.run(Path("params.yaml"), progress=False)
        crops_only = video.run(Path("params.yaml"), "crops", progress=False)
    finally:
        os.chdir(cwd)
    out = root / "data" / "features" / "video" / "default"
    return {"root": root, "raw": raw, "store": store, "out": out, "summary": summary, "crops_only": crops_only,
            "quarantine": root / "data" / "reports" / "video_quarantine" / "default.csv"}


def test_a_variant_writes_only_the_stores_it_lists(tiny):
    """video.variants.crops lists part_crops alone: its folder holds that store only, byte-identical (pixels and
    per-sample arrays) to the one the three-store variant cuts in the same decode, and it records its variant."""
    folder = tiny["root"] / "data" / "features" / "video" / "crops"
    assert tiny["crops_only"] == tiny["summary"]
    assert sorted(p.name for p in folder.iterdir()) == ["part_crops.zarr"]
    alone, full = open_store(folder / "part_crops.zarr", "part_crops"), open_store(tiny["out"] / "part_crops.zarr")
    for name in ("crops", "frame_index", "part_box", "sample"):
        np.testing.assert_array_equal(alone[name][...], full[name][...])
    assert alone.attrs["params"]["variant"] == "crops" and full.attrs["params"]["variant"] == "default"
    assert alone.attrs["params"]["video"]["stores"] == ["part_crops"]
    assert (tiny["root"] / "data" / "reports" / "video_quarantine" / "crops.csv").read_text().strip() == \
        "sample,reason"


def test_stage_writes_three_aligned_stores(tiny):
    assert tiny["summary"] == {"samples": 24, "quarantined": 0}
    stores = _stores(tiny["out"])
    source = read_meta(open_store(tiny["store"]))
    expected = {"rgb_clips": ("clips", (24, 16, 64, 64, 3)), "part_crops": ("crops", (24, 3, 16, 32, 32, 3)),
                "stroi": ("mosaic", (24, 160, 160, 3))}
    for path, (artifact, (name, shape)) in zip((stores.clips, stores.crops, stores.stroi), expected.items()):
        group = open_store(path, artifact)
        assert group[name].shape == shape and group[name].dtype == np.uint8
        assert group.attrs["channel_order"] == "RGB" and group.attrs["params"]["video"]["hand_scale"] == 0.3
        assert group.attrs["params"]["denoise"]["max_actors"] == 2 and group.attrs["params"]["poses"]["frames"] == 48
        assert (group.attrs["pose_frames"], group.attrs["box_padding"]) == (48, 0.25)
        assert group.attrs["denoise"] == group.attrs["params"]["denoise"]
        meta = read_meta(group)
        for field, values in source.items():
            np.testing.assert_array_equal(meta[field], values)
        assert read_splits(group)["xsub"]["train"].size > 0
        assert np.asarray(group[name][0]).std() > 5  # pixels were written
    stroi = open_store(stores.stroi)
    two_person = np.asarray(stroi["num_persons"][...]) == 2
    np.testing.assert_array_equal(two_person, source["label"] == 57)  # handshaking: the only two-person class
    assert np.isnan(np.asarray(stroi["roi_box"][...])[~two_person, 1]).all()
    clips = open_store(stores.clips)
    np.testing.assert_array_equal(clips["video_size"][0], [90, 160])  # read from the video, not assumed
    np.testing.assert_array_equal(clips["frame_index"][...], open_store(stores.crops)["frame_index"][...])
    assert tiny["quarantine"].read_text().strip() == "sample,reason"


def _rewrite_shorter(path: Path, drop: int) -> None:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    capture.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), 30, (width, height))
    for frame in frames[:-drop]:
        writer.write(frame)
    writer.release()


def test_bad_videos_are_quarantined_and_the_rest_kept(tiny):
    raw = tiny["root"] / "raw_bad"
    shutil.copytree(tiny["raw"], raw)
    names = list(read_meta(open_store(tiny["store"]))["sample"])
    missing, shorter, cut, corrupt = names[1], names[5], names[9], names[14]
    video_path(raw, missing).unlink()
    _rewrite_shorter(video_path(raw, shorter), drop=4)
    data = video_path(raw, cut).read_bytes()
    video_path(raw, cut).write_bytes(data[:len(data) * 6 // 10])  # header still says the full count
    video_path(raw, corrupt).write_bytes(b"this is not a video" * 50)
    out = tiny["root"] / "bad"
    summary = build_video(tiny["store"], raw, _stores(out), out / "q.csv", SYNC, progress=False)
    assert summary == {"samples": 20, "quarantined": 4}
    reasons = dict(line.split(",", 1) for line in (out / "q.csv").read_text().splitlines()[1:])
    assert "missing" in reasons[missing]
    assert "frames but the skeleton file has" in reasons[shorter]
    assert "ran out" in reasons[cut]
    assert "cannot open or decode" in reasons[corrupt]
    kept = [n for n in names if n not in reasons]
    full = open_store(_stores(tiny["out"]).clips)
    for path, name in ((out / "rgb_clips.zarr", "clips"), (out / "stroi.zarr", "mosaic")):
        group = open_store(path)
        assert list(read_meta(group)["sample"]) == kept and group[name].shape[0] == 20
    np.testing.assert_array_equal(open_store(out / "rgb_clips.zarr")["clips"][2], full["clips"][names.index(kept[2])])
    with pytest.raises(VideoStageError, match=missing):
        build_video(tiny["store"], raw, _stores(tiny["root"] / "ff"), tiny["root"] / "ff" / "q.csv", SYNC,
                    VideoOptions(fail_fast=True), progress=False)
    assert not (tiny["root"] / "ff").exists() or not any((tiny["root"] / "ff").iterdir())


def _same_tree(a: Path, b: Path) -> None:
    """Same files with the same bytes under a and b."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(p) for p in files_a], shallow=False)
    assert not mismatch and not errors


def test_stage_is_byte_identical_across_runs_and_schedulers(tiny):
    out = tiny["root"] / "run2"
    processes = ComputeSettings(scheduler="processes", workers=2, block_size=7)
    options = VideoOptions(hand_scale=0.3)  # what the params file of the fixture's run says
    poses, denoise = PoseOptions(), DenoiseConfig(max_actors=2)
    record = {"variant": "default", "video": {"stores": ["rgb_clips", "part_crops", "stroi"], **as_record(options)},
              "poses": {"variant": "default", **as_record(poses)}, "denoise": as_record(denoise)}
    build_video(tiny["store"], tiny["raw"], _stores(out), out / "video_quarantine.csv", processes, options,
                poses=poses, denoise=denoise, params=record, progress=False)
    for name in ("rgb_clips.zarr", "part_crops.zarr", "stroi.zarr"):
        _same_tree(tiny["out"] / name, out / name)
    assert (out / "video_quarantine.csv").read_bytes() == tiny["quarantine"].read_bytes()


def test_show_writes_pictures_of_a_sample(tiny, tmp_path):
    from pipeline import show
    sample = str(read_meta(open_store(tiny["out"] / "rgb_clips.zarr"))["sample"][3])
    for draw, name in ((show.show_clips, "rgb_clips"), (show.show_crops, "part_crops"), (show.show_stroi, "stroi")):
        out = draw(sample, tmp_path / f"{name}.png", store=tiny["out"] / f"{name}.zarr")
        image = cv2.imread(str(out))
        assert image is not None and image.shape[0] > 100 and image.std() > 10
    with pytest.raises(KeyError, match="no sample"):
        show.show_clips("S001C001P001R001A002", tmp_path / "none.png", store=tiny["out"] / "rgb_clips.zarr")
