"""Benchmark: har.transforms.heatmap.gaussian_heatmaps against a straightforward per-joint loop, one thread.

Run:  python benchmarks/bench_heatmap.py [--repeats 7] [--seconds 0.5] [--crop]

Pose-shaped keypoints (standing figures, jitter, 3 % missing joints), T = 48 frames. For (1, 2 persons) x
(25 joints 64x64, 17 joints 56x56), and 2 persons with the 24 NTU limb channels, prints samples/s of the reference
loop and of the vectorised generator, their ratio, and the max abs difference of the two outputs.
Rate = 1 / fastest single call over `--repeats` interleaved rounds of about `--seconds` each, in thread CPU time
(robust on a busy shared machine) and, for comparison, in wall time. Also: float32 maps quantised afterwards
(round(255 * h)) vs dtype=uint8, and
the floor: allocating the zero-filled output alone (the loop pays it too; glibc reuses the freed block and clears
it, ~1-2 ms here).
`--crop` also times har.transforms.box.crop_and_resize (16 frames 1920x1080 -> 64x64).
Target (issue): ratio >= 10 for 25 joints 64x64, one and two persons; max abs diff <= 1e-6.
"""
from __future__ import annotations

import os

# One thread for every numeric library: set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from har.transforms.heatmap import default_edges, gaussian_heatmaps  # noqa: E402

EPS = 1e-3


# --- reference: one joint / one limb at a time, from the published PoseC3D description ---------------------
def _missing(keypoints: np.ndarray) -> np.ndarray:
    x, y = keypoints[..., 0], keypoints[..., 1]
    return np.isnan(x) | np.isnan(y) | ((x == 0) & (y == 0))


def _ref_joint(plane: np.ndarray, mu: np.ndarray, value: np.float32, sigma: float) -> None:
    height, width = plane.shape
    x0, x1 = max(int(mu[0] - 3 * sigma), 0), min(int(mu[0] + 3 * sigma) + 1, width)
    y0, y1 = max(int(mu[1] - 3 * sigma), 0), min(int(mu[1] + 3 * sigma) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return
    x = np.arange(x0, x1, dtype=np.float32)
    y = np.arange(y0, y1, dtype=np.float32)[:, None]
    patch = np.exp(-((x - mu[0]) ** 2 + (y - mu[1]) ** 2) / 2 / sigma**2) * value
    plane[y0:y1, x0:x1] = np.maximum(plane[y0:y1, x0:x1], patch)


def _ref_limb(plane: np.ndarray, a: np.ndarray, b: np.ndarray, value_a, value_b, sigma: float) -> None:
    height, width = plane.shape
    x0, x1 = max(int(min(a[0], b[0]) - 3 * sigma), 0), min(int(max(a[0], b[0]) + 3 * sigma) + 1, width)
    y0, y1 = max(int(min(a[1], b[1]) - 3 * sigma), 0), min(int(max(a[1], b[1]) + 3 * sigma) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return
    if (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 < 1:  # too short for a segment: the start joint's Gaussian
        _ref_joint(plane, a, value_a, sigma)
        return
    a, b = a.astype(np.float64), b.astype(np.float64)  # float32 distances lose ~3e-6 on long limbs
    x = np.arange(x0, x1, dtype=np.float64)
    y = np.arange(y0, y1, dtype=np.float64)[:, None]
    t = ((x - a[0]) * (b[0] - a[0]) + (y - a[1]) * (b[1] - a[1])) / ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2)
    d2_a = (x - a[0]) ** 2 + (y - a[1]) ** 2
    d2_b = (x - b[0]) ** 2 + (y - b[1]) ** 2
    d2_line = (x - a[0] - t * (b[0] - a[0])) ** 2 + (y - a[1] - t * (b[1] - a[1])) ** 2
    d2 = np.where(t <= 0, d2_a, np.where(t >= 1, d2_b, d2_line))
    patch = (np.exp(-d2 / 2 / sigma**2) * min(value_a, value_b)).astype(np.float32)
    plane[y0:y1, x0:x1] = np.maximum(plane[y0:y1, x0:x1], patch)


def reference_heatmaps(keypoints: np.ndarray, scores: np.ndarray | None, size: tuple[int, int],
                       sigma: float = 0.6, edges: tuple = ()) -> np.ndarray:
    """(M, T, V, 2) float32 pixels, (M, T, V) or None -> (V + E, T, H, W) float32; NaN / (0, 0) missing."""
    persons, frames, joints, _ = keypoints.shape
    scores = np.ones(keypoints.shape[:3], np.float32) if scores is None else scores
    drawable = ~_missing(keypoints) & (scores >= EPS)
    out = np.zeros((joints + len(edges), frames) + tuple(size), np.float32)
    for m in range(persons):
        for t in range(frames):
            kp, sc, ok = keypoints[m, t], scores[m, t], drawable[m, t]
            for v in range(joints):
                if ok[v]:
                    _ref_joint(out[v, t], kp[v], sc[v], sigma)
            for e, (i, j) in enumerate(edges):
                if ok[i] and ok[j]:
                    _ref_limb(out[joints + e, t], kp[i], kp[j], sc[i], sc[j], sigma)
    return out


# --- benchmark ---------------------------------------------------------------------------------------------
# Standing person, NTU-25 (0-based order of har.layout), x right / y down, height 1 (head top 0, feet 1).
NTU_POSE = np.array([
    (0.00, 0.50), (0.00, 0.33), (0.00, 0.13), (0.00, 0.05), (0.12, 0.17), (0.16, 0.32), (0.18, 0.45),
    (0.18, 0.49), (-0.12, 0.17), (-0.16, 0.32), (-0.18, 0.45), (-0.18, 0.49), (0.07, 0.52), (0.08, 0.74),
    (0.08, 0.95), (0.10, 0.99), (-0.07, 0.52), (-0.08, 0.74), (-0.08, 0.95), (-0.10, 0.99), (0.00, 0.17),
    (0.19, 0.53), (0.16, 0.50), (-0.19, 0.53), (-0.16, 0.50)], dtype=np.float32)
# COCO-17: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles (left, right alternate).
COCO_POSE = np.array([
    (0.00, 0.06), (0.02, 0.04), (-0.02, 0.04), (0.04, 0.05), (-0.04, 0.05), (0.12, 0.17), (-0.12, 0.17),
    (0.16, 0.32), (-0.16, 0.32), (0.18, 0.45), (-0.18, 0.45), (0.07, 0.52), (-0.07, 0.52), (0.08, 0.74),
    (-0.08, 0.74), (0.08, 0.95), (-0.08, 0.95)], dtype=np.float32)


def make_case(rng: np.random.Generator, persons: int, joints: int, side: int, frames: int = 48):
    """Pose-shaped keypoints in a side x side map: each person a standing figure ~0.8 side tall, moving and
    jittering per frame, persons side by side; scores in [0.3, 1]; ~3 % of joints missing (0, 0)."""
    pose = NTU_POSE if joints == 25 else COCO_POSE
    kp = np.empty((persons, frames, joints, 2), np.float32)
    for m in range(persons):
        centre_x = side * (0.5 if persons == 1 else 0.3 + 0.4 * m)
        height = side * 0.8 / (1 if persons == 1 else 1.25)
        sway = np.sin(np.linspace(0, 2 * np.pi, frames))[:, None] * side * 0.05
        kp[m, ..., 0] = centre_x + pose[:, 0] * height + sway
        kp[m, ..., 1] = side * 0.1 + pose[:, 1] * height
    kp += rng.normal(0, side / 64, kp.shape).astype(np.float32)
    kp[rng.random(kp.shape[:3]) < 0.03] = 0.0
    scores = rng.uniform(0.3, 1.0, kp.shape[:3]).astype(np.float32)
    return kp, scores


def best_rates(funcs, seconds: float, repeats: int) -> tuple[list[float], list[float]]:
    """Per function (1 / fastest call in thread CPU time, 1 / fastest call in wall time).

    `repeats` interleaved rounds of about `seconds` each. Thread CPU time (user + system, page faults included)
    does not count time the thread waits for a core, so a busy shared machine disturbs it much less than wall
    time; the rounds alternate between the functions so that both see the same conditions.
    """
    cpu, wall = [float("inf")] * len(funcs), [float("inf")] * len(funcs)
    for _ in range(repeats):
        for i, func in enumerate(funcs):
            round_start = time.perf_counter()
            while True:
                start, start_cpu = time.perf_counter(), time.thread_time()
                func()
                end, end_cpu = time.perf_counter(), time.thread_time()
                cpu[i], wall[i] = min(cpu[i], end_cpu - start_cpu), min(wall[i], end - start)
                if end - round_start >= seconds:
                    break
    return [1.0 / t for t in cpu], [1.0 / t for t in wall]


def bench_heatmaps(seconds: float, repeats: int) -> None:
    rng = np.random.default_rng(0)
    print(f"{'case (T=48)':<26}{'loop /s':>9}{'vectorised /s':>15}{'ratio':>7}{'wall: loop /s':>15}"
          f"{'vectorised /s':>15}{'ratio':>7}{'max |diff|':>12}")
    cases = [(25, 64, 1, False), (25, 64, 2, False), (17, 56, 1, False), (17, 56, 2, False), (25, 64, 2, True)]
    for joints, side, persons, limbs in cases:
        kp, scores = make_case(rng, persons, joints, side)
        size, edges = (side, side), (default_edges(joints) if limbs else ())
        diff = np.abs(reference_heatmaps(kp, scores, size, edges=edges)
                      - gaussian_heatmaps(kp, scores, size, with_limbs=limbs)).max()
        cpu, wall = best_rates([partial(reference_heatmaps, kp, scores, size, edges=edges),
                                partial(gaussian_heatmaps, kp, scores, size, with_limbs=limbs)], seconds, repeats)
        name = f"M={persons} V={joints} {side}x{side}" + (" +limbs" if limbs else "")
        print(f"{name:<26}{cpu[0]:>9.1f}{cpu[1]:>15.1f}{cpu[1] / cpu[0]:>7.1f}"
              f"{wall[0]:>15.1f}{wall[1]:>15.1f}{wall[1] / wall[0]:>7.1f}{diff:>12.2e}")
    kp, scores = make_case(rng, 1, 25, 64)
    cpu, _ = best_rates([lambda: reference_heatmaps(kp, scores, (64, 64)),
                         lambda: np.zeros((25, 48, 64, 64), np.float32)], seconds, repeats)
    print(f"floor, M=1 V=25 64x64: the fresh zero-filled 20 MB output alone {cpu[1]:.0f}/s, i.e. at most "
          f"{cpu[1] / cpu[0]:.1f}x the loop")
    kp, scores = make_case(rng, 2, 25, 64)
    cpu, _ = best_rates([lambda: np.rint(gaussian_heatmaps(kp, scores, (64, 64)) * np.float32(255)).astype(np.uint8),
                         lambda: gaussian_heatmaps(kp, scores, (64, 64), dtype=np.uint8)], seconds, repeats)
    print(f"uint8 output, M=2 V=25 64x64: float32 maps quantised {cpu[0]:.1f}/s, dtype=np.uint8 {cpu[1]:.1f}/s")


def bench_crop(seconds: float, repeats: int) -> None:
    from har.transforms.box import crop_and_resize

    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (16, 1080, 1920, 3), dtype=np.uint8)

    def crop_all(box: tuple[float, ...], antialias: bool) -> list[np.ndarray]:
        return [crop_and_resize(frame, box, (64, 64), antialias=antialias) for frame in frames]

    print(f"\ncrop_and_resize, 16 frames 1920x1080x3 -> 64x64 (clips/s, best of {repeats}):")
    for box in ((700.0, 200.0, 1300.0, 800.0), (-150.0, 600.0, 450.0, 1200.0)):
        rates, _ = best_rates([partial(crop_all, box, antialias) for antialias in (True, False)], seconds, repeats)
        print(f"  box {box}: antialias (INTER_AREA + warpAffine) {rates[0]:8.1f}   "
              f"warpAffine bilinear {rates[1]:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--crop", action="store_true", help="also time crop_and_resize")
    args = parser.parse_args()
    print("command:", shlex.join([Path(sys.executable).name] + sys.argv))
    print(f"numpy {np.__version__}, threads: OMP/OPENBLAS/MKL = 1, load average {os.getloadavg()[0]:.2f}")
    bench_heatmaps(args.seconds, args.repeats)
    if args.crop:
        bench_crop(args.seconds, args.repeats)


if __name__ == "__main__":
    main()
