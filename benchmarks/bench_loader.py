"""Benchmark: the training loader's per-sample reads against tensorstore, on the same stores, in the same run.

Run:  python benchmarks/bench_loader.py [--root DIR] [--scale X] [--seconds S] [--rounds R] [--cache-mb MB]

For every store a model reads (skeleton, heatmaps, rgb_clips, part_crops, stroi) the script builds a store of
synthetic samples under --root (kept and reused when it is already there) with the builders' storage policy
(`har.io.store.create_sample_array`: one zstd chunk per sample, ~64 MB shards, written a whole shard at a time) and
the per-sample shapes of params.yaml. The content is shaped like the real data (smooth skeleton trajectories and
zero padding, sparse Gaussian heatmaps, NaN-padded keypoints, blocky video pixels with noise) so chunks compress
about as much.

Then it times, per store, in rounds that alternate the two readers:
- tensorstore, one thread (data_copy_concurrency and file_io_concurrency 1): one read per sample array of each
  sample (every array the loader returns, all issued then awaited), in a seeded random permutation of all rows;
- the project's loader as one DataLoader worker runs it: `FeatureDataset.__getitem__` (training mode: per-sample
  augmentation Generator, conversion to tensors) over the order of torch's RandomSampler, a full seeded
  permutation, with an identity `make_inputs` (model transforms are compute, not storage) and the sample cache
  off (--cache-mb 0, default), so every sample comes from the store as it would on data much larger than the cache.
Each reader's rate is its best round (samples/s, wall clock). Before timing, the loader's arrays are checked bit for
bit against tensorstore's on a few hundred random rows. The script exits 1 when a ratio loader/tensorstore is below
0.8 (--target) or the data differ.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorstore as ts
import torch
import yaml
from torch.utils.data import RandomSampler

from har.io.store import atomic_store, create_sample_array, stamp, write_array, write_meta, write_splits
from har.layout import CROP_PARTS, NUM_JOINTS, STROI_PARTS
from har.train.data import STORE_ARRAYS, FeatureDataset, FeatureStores, SampleCache
from har.transforms.heatmap import default_edges

ROOT = Path(__file__).resolve().parents[1]
MAX_FRAMES = 300  # keypoints' F_max: NTU's longest sequences
BASE_SAMPLES = {"skeleton": 8000, "heatmaps": 1200, "rgb_clips": 1000, "part_crops": 2400, "stroi": 4000}


def sample_arrays(params: dict) -> dict[str, dict[str, tuple[tuple[int, ...], type, float]]]:
    """store -> array -> (sample shape, dtype, fill value), the builders' shapes at params.yaml's settings."""
    default = {section: params[section]["variants"]["default"] for section in ("skeletons", "heatmaps", "video")}
    persons, video, heatmaps = params["denoise"]["max_actors"], default["video"], default["heatmaps"]
    size, t, cell = heatmaps["size"], video["clip_frames"], video["roi_out"]
    channels = NUM_JOINTS + (len(default_edges(NUM_JOINTS)) if heatmaps["limbs"] else 0)
    pose_frames = params["poses"]["variants"][heatmaps["poses"]]["frames"]
    return {
        "skeleton": {"x": ((persons, default["skeletons"]["frames"], NUM_JOINTS, 3), np.float32, 0.0)},
        "heatmaps": {"heatmaps": ((channels, pose_frames, size, size), np.uint8, 0),
                     "keypoints": ((persons, MAX_FRAMES, NUM_JOINTS, 2), np.float32, np.nan)},
        "rgb_clips": {"clips": ((t, video["clip_size"], video["clip_size"], 3), np.uint8, 0)},
        "part_crops": {"crops": ((len(CROP_PARTS), t, video["crop_size"], video["crop_size"], 3), np.uint8, 0)},
        "stroi": {"mosaic": ((len(STROI_PARTS) * cell, video["stroi_frames"] * cell, 3), np.uint8, 0)},
    }


def _pixels(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """(n, *shape) uint8 of 8x8 blocks plus noise, shape (..., H, W, 3): compresses about like video frames."""
    *lead, h, w, c = shape
    coarse = rng.integers(0, 240, (n, *lead, -(-h // 8), 1, -(-w // 8), 1, c), dtype=np.uint8)
    blocks = np.broadcast_to(coarse, (n, *lead, -(-h // 8), 8, -(-w // 8), 8, c))
    blocks = blocks.reshape(n, *lead, -(-h // 8) * 8, -(-w // 8) * 8, c)[..., :h, :w, :]
    return blocks + rng.integers(0, 16, blocks.shape, dtype=np.uint8)


def _heatmaps(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """(n, C, T, S, S) uint8, one 5x5 Gaussian blob per channel and frame."""
    channels, frames, size, _ = shape
    out = np.zeros((n, *shape), np.uint8)
    centre = rng.integers(2, size - 2, (n, channels, 1, 2)) + rng.integers(-1, 2, (n, channels, frames, 2))
    centre = np.clip(centre, 2, size - 3)
    offsets = np.arange(-2, 3)
    patch = (255 * np.exp(-(offsets[:, None] ** 2 + offsets[None] ** 2) / 2.0)).astype(np.uint8)
    s, c, f = np.meshgrid(np.arange(n), np.arange(channels), np.arange(frames), indexing="ij")
    for dy in offsets:
        for dx in offsets:
            out[s, c, f, centre[..., 0] + dy, centre[..., 1] + dx] = patch[dy + 2, dx + 2]
    return out


def _skeletons(rng: np.random.Generator, n: int, shape: tuple[int, ...], nan_pad: bool) -> np.ndarray:
    """(n, M, T, V, C) float32 smooth trajectories; a second person in 30 % of samples, padded after a length."""
    x = np.cumsum(rng.normal(0, 0.01, (n, *shape)), axis=2).astype(np.float32) + rng.normal(0, 1, (n, 1, 1, *shape[2:]))
    pad = np.float32(np.nan if nan_pad else 0.0)
    x[rng.random(n) < 0.7, 1:] = pad
    lengths = rng.integers(shape[1] // 4, shape[1] + 1, n)
    x.swapaxes(1, 2)[np.arange(shape[1])[None, :] >= lengths[:, None]] = pad  # frames past each length
    return x.astype(np.float32)


def generate(name: str, rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    if name == "heatmaps":
        return _heatmaps(rng, n, shape)
    if name in ("x", "keypoints"):
        return _skeletons(rng, n, shape, nan_pad=name == "keypoints")
    return _pixels(rng, n, shape)


def names(n: int) -> list[str]:
    """n distinct NTU sample names (setup, camera, subject, replication, action)."""
    return [f"S{1 + k // 7200 % 32:03d}C{1 + k % 3:03d}P{1 + k // 3 % 40:03d}R{1 + k // 120 % 2:03d}"
            f"A{1 + k // 240 % 30:03d}" for k in range(n)]


def build_store(path: Path, arrays: dict, n: int, seed: int) -> None:
    """A feature store of n synthetic samples, each array written one whole shard at a time."""
    rng = np.random.default_rng(seed)
    sample = names(n)
    with atomic_store(path) as group:
        for name, (shape, dtype, fill) in arrays.items():
            array = create_sample_array(group, name, n, shape, dtype, fill_value=fill)
            step = array.shards[0] if array.shards else 1
            for start in range(0, n, step):
                array[start:start + step] = generate(name, rng, min(step, n - start), shape)
        if "x" in arrays:
            write_array(group, "length", rng.integers(8, arrays["x"][0][1] + 1, n).astype(np.int32))
        if "keypoints" in arrays:
            write_array(group, "num_frames", rng.integers(40, MAX_FRAMES + 1, n).astype(np.int32))
        subjects = np.array([int(s[9:12]) for s in sample])
        write_meta(group, {"sample": sample, "label": [int(s[-3:]) - 1 for s in sample],
                           "setup": [int(s[1:4]) for s in sample], "camera": [int(s[5:8]) for s in sample],
                           "subject": subjects, "replication": [int(s[13:16]) for s in sample]})
        train = np.flatnonzero(subjects % 2 == 1)
        write_splits(group, {"xsub": {"train": train, "test": np.flatnonzero(subjects % 2 == 0)}})
        stamp(group, artifact=f"bench_{path.stem}", samples=n)


def raw_arrays(arrays: dict, rng) -> dict:
    """make_inputs of the benchmark: the stored arrays as they are."""
    return arrays


def open_tensorstore(path: Path, names: list[str]) -> list:
    """The arrays opened with tensorstore on one thread (copy and file I/O concurrency 1)."""
    context = ts.Context({"data_copy_concurrency": {"limit": 1}, "file_io_concurrency": {"limit": 1}})
    return [ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path / name)}}, read=True,
                    context=context).result() for name in names]


def timed(read_one, order, seconds: float) -> np.ndarray:
    """(wall, CPU) samples/s of read_one over `order`, for about `seconds`. CPU time is the whole process's (every
    tensorstore thread counted)."""
    start, cpu, count = time.perf_counter(), time.process_time(), 0
    for i in order:
        read_one(int(i))
        count += 1
        if count % 16 == 0 and time.perf_counter() - start > seconds:
            break
    return count / np.array([time.perf_counter() - start, max(time.process_time() - cpu, 1e-9)])


def tensorstore_reader(arrays: list):
    """Reads every array of sample i with tensorstore (all reads issued, then awaited)."""
    def read_one(i: int) -> None:
        for future in [array[i].read() for array in arrays]:
            future.result()
    return read_one


def check_equal(dataset: FeatureDataset, arrays: list, array_names: list[str], rows: np.ndarray) -> list[str]:
    """Rows where the loader's raw arrays and tensorstore's differ bit for bit (NaN patterns included)."""
    bad = []
    for i in rows:
        got = dataset.stores.read(int(i))
        for name, array in zip(array_names, arrays):
            want = array[int(i)].read().result()
            if got[name].dtype != want.dtype or got[name].tobytes() != want.tobytes():
                bad.append(f"{name}[{i}]")
    return bad


def bench_store(path: Path, store: str, args) -> tuple[np.ndarray, np.ndarray]:
    """(wall, CPU) samples/s of tensorstore and of the loader on one store, each the best of args.rounds rounds
    that alternate the two."""
    stores = FeatureStores.open({store: path})
    array_names = [n for n in STORE_ARRAYS[store] if n in stores.groups[store] and stores.groups[store][n].ndim > 1]
    labels = np.unique(stores.meta["label"])
    dataset = FeatureDataset(stores, np.arange(len(stores)), {int(v): k for k, v in enumerate(labels)}, raw_arrays,
                             SampleCache(args.cache_mb * 2**20), augment=True, seed=0)
    arrays = open_tensorstore(path, array_names)
    rng = np.random.default_rng(args.seed)
    bad = check_equal(dataset, arrays, array_names, rng.choice(len(stores), min(300, len(stores)), replace=False))
    if bad:
        sys.exit(f"{store}: the loader's data differ from tensorstore's at {bad[:5]}")
    ts_rates, loader_rates = [], []
    for round_ in range(args.rounds):
        dataset.set_epoch(round_)
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(args.seed + round_))
        order = list(sampler)  # a full permutation per epoch, as the training DataLoader draws it
        ts_rates.append(timed(tensorstore_reader(arrays), np.random.default_rng(round_).permutation(len(stores)),
                              args.seconds))
        loader_rates.append(timed(dataset.__getitem__, order, args.seconds))
    return np.max(ts_rates, axis=0), np.max(loader_rates, axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="folder for the stores (kept; reused when already built)")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="per-sample shapes from here")
    parser.add_argument("--scale", type=float, default=1.0, help=f"samples per store x this ({BASE_SAMPLES})")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per reader per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-mb", type=int, default=0, help="the loader's sample cache (0: off)")
    parser.add_argument("--stores", nargs="+", default=list(BASE_SAMPLES), choices=list(BASE_SAMPLES))
    parser.add_argument("--target", type=float, default=0.8, help="minimal loader / tensorstore ratio")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    params = yaml.safe_load(args.params.read_text())
    root = args.root or Path(tempfile.mkdtemp(prefix="bench_loader-"))
    shapes, failed = sample_arrays(params), []
    print(f"stores under {root}; loader cache {args.cache_mb} MB; best of {args.rounds} rounds of {args.seconds} s;"
          f" samples/s per wall second and per CPU second")
    print(f"{'store':<11} {'samples':>7} {'MB':>5} {'build s':>7} | {'tensorstore':>11} {'loader':>7} {'ratio':>5} "
          f"| {'tensorstore':>11} {'loader':>7} {'ratio':>5}\n{'':>34}| {'wall':^25} | {'CPU':^25}")
    try:
        for k, store in enumerate(args.stores):
            path, n, built = root / f"{store}.zarr", max(16, int(BASE_SAMPLES[store] * args.scale)), 0.0
            if not (path / "zarr.json").exists():
                begin = time.perf_counter()
                build_store(path, shapes[store], n, seed=args.seed + k)
                built = time.perf_counter() - begin
            stored = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
            tensorstore_rate, loader_rate = bench_store(path, store, args)
            ratio = loader_rate / tensorstore_rate
            failed += [store] if ratio[1] < args.target else []
            print(f"{store:<11} {len(FeatureStores.open({store: path})):>7} {stored:>5.0f} {built:>7.1f} "
                  + " ".join(f"| {tensorstore_rate[k]:>11.0f} {loader_rate[k]:>7.0f} {ratio[k]:>5.2f}"
                             for k in (0, 1)), flush=True)
    finally:
        if args.root is None:
            shutil.rmtree(root)
    if failed:
        print(f"FAIL: loader below {args.target}x tensorstore (CPU) for {failed}")
        return 1
    print(f"OK: loader >= {args.target}x tensorstore (CPU) for every store")
    return 0


if __name__ == "__main__":
    sys.exit(main())
