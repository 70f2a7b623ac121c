"""Benchmark: the video stage's per-sample work against a plain OpenCV decode of the same videos.

Run:  python benchmarks/bench_video.py [--synthetic DIR [--store SKELETONS.zarr]] [--samples 16] [--repeats 3]
                                      [--no-real] [--stage]

Stage: har.builders.video_sample.video_sample (pose, one sequential decode grabbing every frame up to the last
needed one and retrieving only the needed ones, then the RGB clip, the three part crops and the ST-ROI mosaic).
Baseline: the same decoding work with plain OpenCV and nothing else: `cv2.VideoCapture(path, cv2.CAP_FFMPEG)`,
`grab()` of every frame up to the last one the stage needs (a sequential codec cannot skip frames) and
`retrieve()` (BGR conversion) of exactly the frames the stage retrieves (taken from an untimed first stage run of
that video). So the ratio measures what the stage adds to an unavoidable decode: pose, planning, the ~100 crops
per sample and the RGB conversion of the outputs. Decoding and converting every frame (`capture.read()` to the
end) would be a larger, easier baseline.
Both run in this process, one after the other for each video and repeat, the first one alternating between
repeats; per video the fastest of `--repeats` rounds counts, in wall time and in process CPU time (FFMPEG decodes
with its own threads; CPU time is robust on a busy shared machine). Videos: `--samples` of a synthetic set at
the default 480x270 (generated into a temporary folder unless --synthetic points at one; --store names that
folder's already ingested skeletons store, so a large set need not be ingested again) and the real 1920x1080
NTU sample with its skeleton.
`--stage` also runs the whole stage (har.builders.video.build_video, params.yaml defaults: 2 worker processes)
over every sample of --synthetic and prints samples/s.
Target (issue): stage / baseline <= 1.2.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import cv2

from har.builders.ingest import ingest_raw
from har.builders.video import VideoStores, build_video
from har.builders.video_sample import VideoOptions, VideoSample, video_sample
from har.io.interim import InterimReader
from har.io.shards import Quarantined
from har.io.store import open_store
from har.io.video import RGB_DIR, video_path
from har.parallel import ComputeSettings
from har.synth.config import SynthConfig
from har.synth.generate import generate_dataset

REAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "ntu-samples"
REAL_SAMPLE = "S001C001P001R001A001"
SYNC = ComputeSettings(scheduler="synchronous")


def plain_decode(path: str, wanted: list[int]) -> int:
    """The baseline: grab (demux + decode) every frame up to the last wanted one and retrieve (convert to BGR) the
    wanted ones, as the stage's decode does, with nothing else. Returns the number of frames grabbed."""
    targets = set(wanted)
    last = max(targets)
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        for index in range(last + 1):
            if not capture.grab():
                raise RuntimeError(f"{path}: decoding ran out at frame {index}, before frame {last}")
            if index in targets and not capture.retrieve()[0]:
                raise RuntimeError(f"{path}: frame {index} could not be retrieved")
    finally:
        capture.release()
    return last + 1


def retrieved_frames(sample: VideoSample) -> list[int]:
    """The distinct video frames the stage retrieved for one sample (clip and part-crop frames, ST-ROI frames)."""
    return sorted(set(sample.plan.clip_frames.tolist()) | set(sample.plan.stroi_frames.tolist()))


def _timed(func, *args) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = func(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def load_items(raw: Path, work: Path, limit: int | None, store: Path | None = None) -> list[dict]:
    """The first `limit` samples of raw (ingested into work unless store holds them already) with their videos."""
    if store is None:
        store = work / f"{raw.name}_skeletons.zarr"
        ingest_raw(raw, store, work / f"{raw.name}_quarantine.csv", SYNC, progress=False)
    reader = InterimReader(open_store(store))
    items = []
    for block in reader.iter_blocks(16, fields=["xyz", "color_xy", "tracking"]):
        items += block
        if limit is not None and len(items) >= limit:
            break
    for item in items:
        item["video"] = str(video_path(raw, item["sample"]))
    return items[:limit]


def compare(items: list[dict], options: VideoOptions, repeats: int) -> dict:
    """Fastest-of-repeats wall and CPU seconds per video for the stage and the equal-work baseline, summed."""
    wanted = []
    for item in items:  # untimed: the frames each stage run retrieves (and a warm page cache for both sides)
        outcome = video_sample(item, options)
        if isinstance(outcome, Quarantined):
            raise RuntimeError(f"benchmark sample is unusable: {outcome.reason}")
        wanted.append(retrieved_frames(outcome.value))
    best = {key: [float("inf")] * len(items) for key in ("stage_wall", "stage_cpu", "plain_wall", "plain_cpu")}
    grabbed = 0
    for repeat in range(repeats):
        for i, item in enumerate(items):
            sides = [("stage", video_sample, (item, options)), ("plain", plain_decode, (item["video"], wanted[i]))]
            runs = {side: _timed(func, *args) for side, func, args in sides[::-1 if repeat % 2 else 1]}
            for side, (wall, cpu, _) in runs.items():
                best[f"{side}_wall"][i] = min(best[f"{side}_wall"][i], wall)
                best[f"{side}_cpu"][i] = min(best[f"{side}_cpu"][i], cpu)
            grabbed += runs["plain"][2] if repeat == 0 else 0
    return {"frames": sum(int(item["num_frames"]) for item in items), "grabbed": grabbed,
            "retrieved": sum(len(frames) for frames in wanted), **{key: sum(values) for key, values in best.items()}}


def report(title: str, items: list[dict], totals: dict) -> None:
    print(f"\n{title}: {len(items)} videos, {totals['frames']} frames; both sides decode {totals['grabbed']} "
          f"and retrieve {totals['retrieved']}")
    for kind in ("wall", "cpu"):
        stage, plain = totals[f"stage_{kind}"], totals[f"plain_{kind}"]
        print(f"  {kind:>4}: stage {stage:7.3f} s ({len(items) / stage:6.2f} samples/s)   plain decode "
              f"{plain:7.3f} s   ratio stage/plain = {stage / plain:.3f}  (target <= 1.2)")


def run_stage(raw: Path, work: Path) -> None:
    store = work / "stage_skeletons.zarr"
    ingest_raw(raw, store, work / "stage_ingest.csv", ComputeSettings(), progress=False)
    count = len(open_store(store)["sample"])
    stores = VideoStores(work / "rgb_clips.zarr", work / "part_crops.zarr", work / "stroi.zarr")
    began = time.perf_counter()
    summary = build_video(store, raw, stores, work / "video_quarantine.csv", ComputeSettings(), progress=False)
    seconds = time.perf_counter() - began
    print(f"\nwhole stage on {raw} ({count} samples, processes x2): {seconds:.1f} s, "
          f"{summary['samples'] / seconds:.2f} samples/s; {summary}")
    for path in (stores.clips, stores.crops, stores.stroi):
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        print(f"  {path.name}: {size / 2**20:.1f} MiB on disk, {size / max(1, summary['samples']) / 1024:.1f} KiB "
              f"per sample")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=Path, help="a raw synthetic folder (default: generate a small one)")
    parser.add_argument("--store", type=Path, help="the --synthetic folder's ingested skeletons store (skips ingest)")
    parser.add_argument("--samples", type=int, default=16, help="synthetic videos to time")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-real", action="store_true", help="skip the real 1080p NTU sample")
    parser.add_argument("--stage", action="store_true", help="also time the whole stage on --synthetic")
    parser.add_argument("--cv-threads", type=int, help="cv2.setNumThreads for both sides (default: OpenCV's)")
    args = parser.parse_args()
    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(f"opencv {cv2.__version__}, cv2 threads {cv2.getNumThreads()}, load average {os.getloadavg()[0]:.2f}")
    options = VideoOptions()
    with tempfile.TemporaryDirectory(prefix="bench_video_") as tmp:
        work = Path(tmp)
        raw = args.synthetic
        if raw is None:
            raw = work / "synthetic"
            # The shipped default's videos (480x270, 40-90 frames), 16 of its classes x 1 subject x 1 camera.
            config = SynthConfig(num_subjects=1, cameras=(1,), num_replications=1)
            generate_dataset(raw, config, 7, SYNC, progress=False)
        if not (raw / RGB_DIR).is_dir():
            raise SystemExit(f"{raw}: no {RGB_DIR}/ folder")
        if args.store is not None and args.synthetic is None:
            raise SystemExit("--store needs --synthetic DIR")
        items = load_items(raw, work, args.samples, args.store)
        report(f"synthetic {raw}", items, compare(items, options, args.repeats))
        if not args.no_real:
            real = work / "real"
            (real / "nturgb+d_skeletons").mkdir(parents=True)
            (real / RGB_DIR).mkdir()
            (real / "nturgb+d_skeletons" / f"{REAL_SAMPLE}.skeleton").symlink_to(REAL / f"{REAL_SAMPLE}.skeleton")
            (real / RGB_DIR / f"{REAL_SAMPLE}_rgb.avi").symlink_to(REAL / f"{REAL_SAMPLE}_rgb.avi")
            items = load_items(real, work, None)
            report("real NTU 1920x1080", items, compare(items, options, args.repeats))
        if args.stage:
            if args.synthetic is None:
                raise SystemExit("--stage needs --synthetic DIR")
            run_stage(raw, work)


if __name__ == "__main__":
    main()
