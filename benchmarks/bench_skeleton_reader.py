"""Benchmark: har.io.ntu_skeleton.read_skeleton against the classic ST-GCN / CTR-GCN reader, one thread.

Run:  python benchmarks/bench_skeleton_reader.py [--files DIR] [--repeat N] [--generated N]

The ratio is quoted against the classic `read_skeleton` of the ST-GCN / CTR-GCN data scripts, written here from
its description: open the file, readline per line; numFrame = int(line); per frame a dict with numBody and a list
bodyInfo; per body a dict {key: float(v) for key, v in zip(body_info_key, line.split())} over the 10 body keys,
numJoint = int(readline), jointInfo = a list of 25 dicts {key: float(v) ...} over the 12 joint keys (the key lists
are literals inside the body and joint loops, as there). It returns Python dicts and does no validation.

Both readers parse the same files in the same run: the real samples in tests/data/ntu-samples (or --files DIR)
plus generated files (1 and 2 bodies, 60-300 frames, written with write_skeleton). Each round reads every file
with each reader, one after the other, the first one alternating; a reader's time is its fastest round, and the
median of the per-round ratios (both readers under about the same machine load) is printed too. Time is thread
CPU time (robust on a busy shared machine) and, for comparison, wall time. Both readers must agree on every frame,
body count and xyz value (float32 of the same float()), else the script exits with status 1.
The target: ratio (classic time / read_skeleton time) >= 4.
"""
from __future__ import annotations

import os

# One thread for every numeric library: set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from har.io.ntu_skeleton import iter_skeleton_paths, read_skeleton  # noqa: E402
from har.io.skeleton_format import NUM_JOINTS, BodyTrack, SkeletonFile, write_skeleton  # noqa: E402

REAL_SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "ntu-samples"
GENERATED_SHAPES = ((60, 1), (90, 2), (120, 1), (150, 2), (200, 1), (240, 2), (300, 1), (300, 2))


def classic_read_skeleton(path) -> dict:
    """The classic reader (see the module docstring): dicts of floats per body and joint; bodyID becomes a float."""
    with open(path) as handle:
        sequence = {"numFrame": int(handle.readline()), "frameInfo": []}
        for _ in range(sequence["numFrame"]):
            frame = {"numBody": int(handle.readline()), "bodyInfo": []}
            for _ in range(frame["numBody"]):
                body_keys = ["bodyID", "clippedEdges", "handLeftConfidence", "handLeftState",
                             "handRightConfidence", "handRightState", "isRestricted", "leanX", "leanY",
                             "trackingState"]
                body = {key: float(v) for key, v in zip(body_keys, handle.readline().split())}
                body["numJoint"] = int(handle.readline())
                body["jointInfo"] = []
                for _ in range(body["numJoint"]):
                    joint_keys = ["x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW",
                                  "orientationX", "orientationY", "orientationZ", "trackingState"]
                    joint = {key: float(v) for key, v in zip(joint_keys, handle.readline().split())}
                    body["jointInfo"].append(joint)
                frame["bodyInfo"].append(body)
            sequence["frameInfo"].append(frame)
    return sequence


def _track(rng: np.random.Generator, body_id: int, frames: np.ndarray) -> BodyTrack:
    """A plausible Kinect body: joints around 3.5 m away drifting smoothly, pixel coordinates, quaternions."""
    count = frames.size
    rest = rng.normal([0.0, 0.2, 3.5], [0.25, 0.4, 0.1], (NUM_JOINTS, 3))
    xyz = rest + np.cumsum(rng.normal(0.0, 0.004, (count, NUM_JOINTS, 3)), axis=0)
    depth = np.stack([256 + 365 * xyz[..., 0] / xyz[..., 2], 212 - 365 * xyz[..., 1] / xyz[..., 2]], axis=-1)
    color = np.stack([960 + 1060 * xyz[..., 0] / xyz[..., 2], 540 - 1060 * xyz[..., 1] / xyz[..., 2]], axis=-1)
    quat = rng.normal(0.0, 1.0, (count, NUM_JOINTS, 4))
    quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
    quat[:, [3, 15, 19, 21, 22, 23, 24]] = 0.0  # Kinect leaves the orientation of end joints at 0 0 0 0
    info = np.zeros((count, 7), np.int32)
    info[:, 1:5] = rng.integers(0, 3, (count, 4))
    info[:, 6] = 2
    return BodyTrack(str(body_id), frames.astype(np.int32), xyz.astype(np.float32), depth.astype(np.float32),
                     color.astype(np.float32), quat.astype(np.float32),
                     rng.choice(np.array([1, 2], np.int8), (count, NUM_JOINTS), p=[0.1, 0.9]),
                     info, rng.normal(0.0, 0.1, (count, 2)).astype(np.float32))


def write_generated(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` files cycling through GENERATED_SHAPES (frames, bodies); a second body enters a third of the
    way in, as in the two-person NTU actions."""
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        num_frames, num_bodies = GENERATED_SHAPES[index % len(GENERATED_SHAPES)]
        tracks = [_track(rng, 72057594037927936 + 1000 * index + body,
                         np.arange(body * num_frames // 3, num_frames)) for body in range(num_bodies)]
        path = folder / f"S001C001P001R001A{index + 1:03d}.skeleton"
        write_skeleton(path, num_frames, tracks)
        paths.append(path)
    return paths


def check_agreement(path: Path, ours: SkeletonFile, classic: dict) -> int:
    """Number of body-frames compared; raises AssertionError when the frames, bodies per frame or an xyz value
    differ. Bodies are matched within a frame by their xyz (classic bodyIDs are floats: IDs past 2**53 merge)."""
    assert classic["numFrame"] == ours.num_frames, f"{path}: frame counts differ"
    per_frame: list[list[bytes]] = [[] for _ in range(ours.num_frames)]
    for track in ours.tracks:
        for row, frame in enumerate(track.frames.tolist()):
            per_frame[frame].append(track.xyz[row].tobytes())
    for frame, (info, mine) in enumerate(zip(classic["frameInfo"], per_frame)):
        assert info["numBody"] == ours.bodies_per_frame[frame] == len(mine), f"{path}: bodies differ in {frame}"
        theirs = [np.array([[j["x"], j["y"], j["z"]] for j in body["jointInfo"]], np.float32).tobytes()
                  for body in info["bodyInfo"]]
        assert sorted(theirs) == sorted(mine), f"{path}: xyz differs in frame {frame}"
    return int(ours.bodies_per_frame.sum())


def time_readers(paths: list[Path], repeat: int) -> tuple[dict, dict]:
    """Per reader its fastest round, and the classic / read_skeleton ratio of every round, in thread CPU seconds
    ("cpu") and wall seconds ("wall"). In a round each reader reads all files, the first reader alternating."""
    readers = {"classic": classic_read_skeleton, "read_skeleton": read_skeleton}
    best = {name: {"cpu": float("inf"), "wall": float("inf")} for name in readers}
    ratios = {"cpu": [], "wall": []}
    for round_index in range(repeat):
        spent = {name: {"cpu": 0.0, "wall": 0.0} for name in readers}
        order = list(readers) if round_index % 2 == 0 else list(readers)[::-1]
        for name in order:
            cpu, wall = time.thread_time(), time.perf_counter()
            for path in paths:
                readers[name](path)
            spent[name]["cpu"], spent[name]["wall"] = time.thread_time() - cpu, time.perf_counter() - wall
        for clock in ("cpu", "wall"):
            ratios[clock].append(spent["classic"][clock] / spent["read_skeleton"][clock])
            for name in readers:
                best[name][clock] = min(best[name][clock], spent[name][clock])
    return best, ratios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=Path, default=REAL_SAMPLES, help="folder of real .skeleton files")
    parser.add_argument("--repeat", type=int, default=15, help="rounds; the fastest counts")
    parser.add_argument("--generated", type=int, default=len(GENERATED_SHAPES), help="generated files to add")
    args = parser.parse_args(argv)
    print("command: " + shlex.join([sys.executable, *sys.argv]))
    with tempfile.TemporaryDirectory() as tmp:
        real = list(iter_skeleton_paths(args.files))
        paths = real + write_generated(Path(tmp), args.generated)
        try:
            compared = sum(check_agreement(p, read_skeleton(p), classic_read_skeleton(p)) for p in paths)
        except AssertionError as error:
            print(f"DISAGREEMENT: {error}")
            return 1
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        frames = sum(read_skeleton(p).num_frames for p in paths)
        print(f"files: {len(real)} real from {args.files} + {args.generated} generated = {len(paths)} files, "
              f"{megabytes:.2f} MB, {frames} frames")
        print(f"agreement: {compared} body-frames, every xyz identical (float32 of the same float())")
        best, ratios = time_readers(paths, args.repeat)
    print("baseline: the classic ST-GCN / CTR-GCN read_skeleton (readline, float() per token, dicts)")
    for clock, label in (("cpu", "thread CPU time"), ("wall", "wall time")):
        print(f"-- {label}, fastest of {args.repeat} rounds")
        for name, times in best.items():
            seconds = times[clock]
            print(f"{name:>14}: {seconds * 1e3:8.1f} ms/round  {len(paths) / seconds:7.1f} files/s  "
                  f"{megabytes / seconds:6.1f} MB/s  {frames / seconds:8.0f} frames/s")
        ratio = best["classic"][clock] / best["read_skeleton"][clock]
        print(f"ratio (classic / read_skeleton) = {ratio:.2f}x fastest rounds, "
              f"{statistics.median(ratios[clock]):.2f}x median of per-round ratios  ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
