"""One sample of the `video` stage: one sequential decode -> RGB clip, part crops and ST-ROI mosaic.

The pose view is har.builders.poses.pose_2d with the same params sections (`denoise`, `poses`) as the heatmap
stage, so the video stage sees exactly the actors, kept frames and person box the heatmap stage sees.
Frame choice (F = the kept frames, those with an actor):
- clip and part crops: T = clip_frames of the poses.frames (48) test-mode indices of the heatmap stage
  (subsample(uniform_sample_indices(F, 48, None), T): every third one for 16 of 48), mapped through
  pose.frames to video frame numbers;
- ST-ROI: L = stroi_frames at equal intervals over the F kept frames (equal_interval_indices).
Everything is planned from the pose first (frames and boxes in video pixels), then the video is decoded once,
front to back, retrieving only the planned frames and stopping after the last one; each retrieved frame is cut
into its crops at once and dropped, so a worker holds one full frame at a time. Outputs are RGB.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from har.builders.poses import Pose2D, PoseError, PoseOptions, pose_2d
from har.io.shards import Kept, Quarantined
from har.io.video import SequentialVideo, VideoError, open_video
from har.layout import CROP_PARTS, STROI_PARTS
from har.transforms.box import cut_frame, plan_crops
from har.transforms.crop import PartError, part_boxes
from har.transforms.denoise import DenoiseConfig
from har.transforms.sample import equal_interval_indices, subsample, uniform_sample_indices
from har.transforms.stroi import cell_slots, cell_window, roi_boxes, roi_centres, roi_side


@dataclass(frozen=True)
class VideoOptions:
    """params.yaml section `video` (pose frames and person box: section `poses`; actors: section `denoise`)."""
    clip_frames: int = 16  # T of the RGB clip and of the part crops: clip_frames of the poses.frames indices
    clip_size: int = 64  # RGB clip side (AMFI's paper setting: 112)
    crop_size: int = 32  # part crop side (Das et al.: 224)
    hand_scale: float = 0.3  # hand crop side as a fraction of the body's height in the frame
    body_padding: float = 0.2  # full-body crop: tight joint box scaled by 1 + body_padding, then squared
    roi_size: float = 96.0  # ST-ROI sub-ROI side in pixels of a roi_reference_height-line video
    roi_reference_height: int = 1080
    roi_out: int = 32  # s: each sub-ROI is resized to s x s (two persons: s x s/2 each)
    stroi_frames: int = 5  # L columns of the mosaic
    fail_fast: bool = False  # stop at the first bad sample instead of quarantining it

    moved_keys: ClassVar[dict[str, str]] = {
        "pose_frames": "the pose frame count is poses.frames (shared with the heatmaps stage)",
        "box_padding": "the person box padding is poses.box_padding (shared with the heatmaps stage)",
        "denoise": "actor selection is the top-level `denoise` section (shared by skeletons, heatmaps, video)",
    }

    def __post_init__(self):
        for name in ("clip_frames", "clip_size", "crop_size", "roi_out", "stroi_frames",
                     "roi_reference_height"):
            if getattr(self, name) < 1:
                raise ValueError(f"video.{name} must be at least 1, got {getattr(self, name)}")
        if self.roi_out % 2:
            raise ValueError(f"video.roi_out must be even (two persons share a cell), got {self.roi_out}")
        if self.hand_scale <= 0 or self.roi_size <= 0:
            raise ValueError(f"video.hand_scale and video.roi_size must be > 0, got {self.hand_scale}, "
                             f"{self.roi_size}")
        if self.body_padding < 0:
            raise ValueError(f"video.body_padding must be >= 0, got {self.body_padding}")


@dataclass(frozen=True)
class VideoPlan:
    """What to read and cut, in video frame numbers and pixels (boxes are (x0, y0, x1, y1)).

    clip_frames: (T,) int64; clip_box: the person box; part_boxes: (P, T, 4) float64 (main actor);
    stroi_frames: (L,) int64; roi_boxes: (Q, K, L, 4) float64, Q = 1 or 2 persons in actor order.
    """
    clip_frames: np.ndarray
    clip_box: tuple[float, float, float, float]
    part_boxes: np.ndarray
    stroi_frames: np.ndarray
    roi_boxes: np.ndarray


@dataclass(frozen=True)
class VideoSample:
    """The three artifacts of one sample (uint8 RGB; None for one not cut) and the plan they were cut with.

    clip: (T, S, S, 3); crops: (P, T, s, s, 3); mosaic: (K r, L r, 3); video_size: (height, width);
    decode_seconds: the part of the sample's wall time spent decoding (timing only, never stored).
    """
    clip: np.ndarray | None
    crops: np.ndarray | None
    mosaic: np.ndarray | None
    plan: VideoPlan
    video_size: tuple[int, int]
    decode_seconds: float = 0.0


def plan_sample(pose: Pose2D, video_height: int, options: VideoOptions,
                poses: PoseOptions = PoseOptions()) -> VideoPlan:
    """Frames and boxes of one sample. Raises PartError (naming the artifact) when a part is never tracked."""
    kept = len(pose.frames)
    clip_positions = subsample(uniform_sample_indices(kept, poses.frames, None), options.clip_frames)
    stroi_positions = equal_interval_indices(kept, options.stroi_frames)
    try:
        boxes = part_boxes(pose.keypoints[0], CROP_PARTS, options.hand_scale, options.body_padding,
                           clip_positions)
    except PartError as error:
        raise PartError(f"part crops: main actor: {error}") from None
    try:
        centres = roi_centres(pose.keypoints, [j for _, j in STROI_PARTS], stroi_positions,
                              [name for name, _ in STROI_PARTS])
    except PartError as error:
        raise PartError(f"ST-ROI: {error}") from None
    side = roi_side(options.roi_size, video_height, options.roi_reference_height)
    return VideoPlan(clip_frames=pose.frames[clip_positions].astype(np.int64), clip_box=pose.box,
                     part_boxes=boxes, stroi_frames=pose.frames[stroi_positions].astype(np.int64),
                     roi_boxes=roi_boxes(centres, side))


def _slots(frames: np.ndarray) -> dict[int, list[int]]:
    """video frame -> the output positions that show it (short videos repeat frames)."""
    slots: dict[int, list[int]] = {}
    for position, frame in enumerate(frames.tolist()):
        slots.setdefault(int(frame), []).append(position)
    return slots


@dataclass(frozen=True)
class _Cuts:
    """Every crop of a sample: its frame, box (B, 4), size (B, 2) and where it goes (array, index) in the
    outputs. A frame shown several times (short videos loop) has the same boxes each time: it is cut once."""
    frames: np.ndarray
    boxes: np.ndarray
    sizes: np.ndarray
    targets: list


def _cuts(plan: VideoPlan, options: VideoOptions, outputs: tuple[np.ndarray, ...]) -> _Cuts:
    """Crops in this order: per distinct clip frame the clip box, then the part boxes; per ST-ROI column each
    person's part boxes. Built with whole-array operations: this runs once per sample, ~100 crops."""
    clip, crops, mosaic = outputs
    persons, num_parts = plan.roi_boxes.shape[:2]
    parts, cell = len(plan.part_boxes), options.roi_out
    clip_slots = _slots(plan.clip_frames)
    first = [positions[0] for positions in clip_slots.values()]
    columns = [column for positions in _slots(plan.stroi_frames).values() for column in positions]
    clip_boxes = np.broadcast_to(np.asarray(plan.clip_box, np.float64), (len(first), 1, 4))
    boxes = np.concatenate([np.concatenate([clip_boxes, plan.part_boxes[:, first].transpose(1, 0, 2)], axis=1),
                            plan.roi_boxes.transpose(2, 0, 1, 3)[columns]], axis=None).reshape(-1, 4)
    frames = np.concatenate([np.repeat(list(clip_slots), 1 + parts),
                             np.repeat(plan.stroi_frames[columns], persons * num_parts)]).astype(np.int64)
    widths = [width for _, width in cell_slots(persons, cell)]
    sizes = ([(options.clip_size,) * 2] + [(options.crop_size,) * 2] * parts) * len(first)
    sizes += [(cell, widths[q]) for _ in columns for q in range(persons) for _ in range(num_parts)]
    targets = []
    for positions in clip_slots.values():
        index = positions[0] if len(positions) == 1 else positions  # an int indexes faster than a list
        targets += [(clip, index)] + [(crops, (p, index)) for p in range(parts)]
    targets += [(mosaic, cell_window(k, column, q, persons, cell))
                for column in columns for q in range(persons) for k in range(num_parts)]
    sizes = np.asarray(sizes, np.int64)
    keep = np.array([array is not None for array, _ in targets])  # an output not cut is None
    if not keep.all():
        frames, boxes, sizes = frames[keep], boxes[keep], sizes[keep]
        targets = [target for target, kept in zip(targets, keep) if kept]
    return _Cuts(frames, boxes, sizes, targets)


def render_sample(video: SequentialVideo, plan: VideoPlan, options: VideoOptions,
                  outputs: tuple[str, ...] = ("clips", "crops", "mosaic")) -> tuple[np.ndarray | None, ...]:
    """Decode the planned frames once and cut them -> (clip, crops, mosaic) uint8 RGB (see VideoSample); an
    artifact whose name ("clips", "crops", "mosaic") is not in `outputs` is None and none of its crops is cut.

    video: an opened video (its `info` gives the frame size, its frames are checked against it). All crops are
    planned together before decoding (har.transforms.box.plan_crops: per-box arithmetic vectorised); each
    retrieved frame is then halved once for the crops that shrink 2x or more and every crop is one warp
    (byte-identical to har.transforms.box.crop_and_resize of that frame and box).
    """
    size, crop, cell = options.clip_size, options.crop_size, options.roi_out
    num_parts, columns = plan.roi_boxes.shape[1:3]
    shapes = {"clips": (len(plan.clip_frames), size, size, 3),
              "crops": (len(plan.part_boxes), len(plan.clip_frames), crop, crop, 3),
              "mosaic": (num_parts * cell, columns * cell, 3)}
    arrays = tuple(np.zeros(shape, np.uint8) if name in outputs else None for name, shape in shapes.items())
    cuts = _cuts(plan, options, arrays)
    crop_plan = plan_crops(cuts.boxes, cuts.sizes, cuts.frames, (video.info.height, video.info.width))
    for frame, image in video.selected(cuts.frames.tolist()):
        for b, cut in cut_frame(image, crop_plan, frame):
            array, index = cuts.targets[b]
            array[index] = cut
    return tuple(None if a is None else _bgr_to_rgb(a) for a in arrays)


def _bgr_to_rgb(images: np.ndarray) -> np.ndarray:
    """(..., W, 3) BGR -> RGB. Crops are cut from OpenCV's BGR frames: converting the small outputs is cheaper
    than converting whole frames, and one cvtColor over all rows is ~40x faster than a reversed-stride copy."""
    rows = images.reshape(-1, images.shape[-2], 3)
    return cv2.cvtColor(rows, cv2.COLOR_BGR2RGB).reshape(images.shape)


@contextmanager
def _opencv_single_threaded() -> Iterator[None]:
    """OpenCV's own thread pool off while cutting: the ~100 crops of a sample are so small that handing each to
    the pool costs more than it saves, and the stage already runs samples in parallel. FFMPEG's decoding threads
    are not affected, and no output byte depends on the thread count. The previous setting is restored."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def video_sample(item: dict, options: VideoOptions, poses: PoseOptions = PoseOptions(),
                 denoise: DenoiseConfig = DenoiseConfig(),
                 outputs: tuple[str, ...] = ("clips", "crops", "mosaic")) -> Kept[VideoSample] | Quarantined:
    """Worker: one InterimReader sample dict plus `video` (its path) -> Kept(VideoSample), or the reason it is
    unusable (missing / undecodable video, frame count mismatch, no usable joints). Only the artifacts named in
    `outputs` are cut (see render_sample). Top-level for pickling."""
    sample = item["sample"]
    try:
        pose = pose_2d(item, denoise, poses.box_padding)
        with open_video(item["video"], item["num_frames"]) as video, _opencv_single_threaded():
            plan = plan_sample(pose, video.info.height, options, poses)
            clip, crops, mosaic = render_sample(video, plan, options, outputs)
            size, decode_seconds = (video.info.height, video.info.width), video.decode_seconds
    except (PoseError, VideoError) as error:
        return Quarantined(str(error) if str(error).startswith(sample) else f"{sample}: {error}")
    except PartError as error:
        return Quarantined(f"{sample}: {error}")
    return Kept(VideoSample(clip=clip, crops=crops, mosaic=mosaic, plan=plan, video_size=size,
                            decode_seconds=decode_seconds))
