"""Stages on a real dask cluster: the workers write every shard, each once, and the stores equal the local build.

A `dask scheduler` and two `dask worker` processes run on 127.0.0.1, started fresh for this module in a directory
that is not the build's (the stage's relative paths must resolve against the driver's directory). The heatmaps and
video stages run against them with shards smaller than a block and not aligned to blocks, with a missing and a
truncated video (quarantines decided late, on a worker, mid-stream); every file of every store must have the same
sha256 as the local synchronous build, the driver must write no shard file, and each shard must have been written
once, by a worker.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zarr

from har.builders.heatmaps import build_heatmaps
from har.builders.ingest import ingest_raw
from har.builders.skeletons import build_skeletons
from har.builders.video import VideoOptions, VideoStores, build_video
from har.io.video import RGB_DIR
from har.parallel import ComputeSettings

distributed = pytest.importorskip("distributed")

LOCAL = ComputeSettings(scheduler="synchronous", block_size=4)
HEATMAP_SAMPLE = 25 * 48 * 32 * 32  # default (K, T, H, W) uint8
CLIP_SAMPLE = 16 * 64 * 64 * 3  # default (T, S, S, 3) uint8
SKELETON_SAMPLE = 2 * 32 * 25 * 3 * 4  # default (M, T, V, 3) float32
PIXEL_ARRAYS = ("heatmaps", "keypoints", "clips", "crops", "mosaic")
SHARD_KEY = re.compile(rf"^(?:.*/)?({'|'.join(PIXEL_ARRAYS)})/\d+(?:\.\d+)+$")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(scheduler address, worker process ids) of a fresh local cluster started from another directory."""
    home = tmp_path_factory.mktemp("worker-home")
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = [sys.executable, "-m", "dask"]
    logs = open(home / "cluster.log", "w")  # noqa: SIM115 (closed in finally)
    processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                   "--no-dashboard"], cwd=home, stdout=logs, stderr=subprocess.STDOUT)]
    try:
        for number in range(2):
            processes.append(subprocess.Popen(
                [*dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"worker-{number}",
                 "--local-directory", str(home / f"worker-{number}")], cwd=home, stdout=logs,
                stderr=subprocess.STDOUT))
        client = distributed.Client(address, timeout=60)
        client.wait_for_workers(2, timeout=60)
        yield address, set(client.run(os.getpid).values())
        client.shutdown()  # scheduler and workers exit at once (a SIGTERMed worker lingers several seconds)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        logs.close()


def _digest(stores: list[Path]) -> dict[str, str]:
    return {f"{store.name}/{f.relative_to(store)}": hashlib.sha256(f.read_bytes()).hexdigest()
            for store in stores for f in sorted(store.rglob("*")) if f.is_file()}


def _shard_files(stores: list[Path]) -> set[tuple[str, int]]:
    return {(f.parent.name, int(f.name.split(".")[0])) for store in stores for f in store.rglob("*")
            if f.is_file() and SHARD_KEY.match(f"{f.parent.name}/{f.name}")}


def _build_both(settings: ComputeSettings, source: Path, interim: Path, out: Path, work: Path | None) -> None:
    build_heatmaps(interim, out / "heatmaps.zarr", out / "heatmaps_q.csv", settings, progress=False, work=work,
                   shard_bytes=3 * HEATMAP_SAMPLE)
    build_video(interim, source, VideoStores(out / "clips.zarr", out / "crops.zarr", out / "stroi.zarr"),
                out / "video_q.csv", settings, VideoOptions(), progress=False, work=work,
                shard_bytes=3 * CLIP_SAMPLE)


def _stores(out: Path) -> list[Path]:
    return [out / name for name in ("heatmaps.zarr", "clips.zarr", "crops.zarr", "stroi.zarr")]


def test_heatmaps_and_video_on_a_cluster_equal_the_local_build(tiny_raw, cluster, tmp_path, monkeypatch, caplog):
    address, worker_pids = cluster
    monkeypatch.chdir(tmp_path)  # relative paths below: the workers, started in another directory, must follow
    shutil.copytree(tiny_raw / "raw" / RGB_DIR, tmp_path / "raw" / RGB_DIR)
    videos = sorted((tmp_path / "raw" / RGB_DIR).iterdir())
    videos[5].unlink()  # missing
    videos[13].write_bytes(videos[13].read_bytes()[:2000])  # truncated: fails while decoding
    interim, source = tiny_raw / "skeletons.zarr", Path("raw")
    _build_both(LOCAL, source, interim, Path("local"), None)

    driver_writes: list[str] = []
    real_set = zarr.storage.LocalStore.set

    async def recording_set(self, key, value):
        driver_writes.append(key)
        return await real_set(self, key, value)

    monkeypatch.setattr(zarr.storage.LocalStore, "set", recording_set)
    caplog.set_level(logging.DEBUG, logger="har.shard_map")
    started = time.perf_counter()
    _build_both(ComputeSettings(scheduler="distributed", address=address, block_size=5), source, interim,
                Path("cluster"), Path("work"))
    print(f"cluster build of heatmaps + video: {time.perf_counter() - started:.1f} s")

    assert _digest(_stores(Path("cluster"))) == _digest(_stores(Path("local")))
    for csv in ("heatmaps_q.csv", "video_q.csv"):
        assert (Path("cluster") / csv).read_text() == (Path("local") / csv).read_text()
    assert len((Path("local") / "video_q.csv").read_text().splitlines()) >= 3  # header + the two bad videos
    assert driver_writes and not [key for key in driver_writes if SHARD_KEY.match(key)]
    written = [record.args for record in caplog.records if record.name == "har.shard_map"]
    shards = [(Path(path).name, shard) for shard, path, _ in written]
    assert len(shards) == len(set(shards)), "a shard was written twice"
    assert set(shards) == _shard_files(_stores(Path("cluster")))
    assert {pid for _, _, pid in written} <= worker_pids and os.getpid() not in worker_pids
    assert len(shards) >= 15


def test_ingest_and_skeletons_on_a_cluster_equal_the_local_build(tiny_raw, cluster, tmp_path, monkeypatch):
    """The same writer serves every stage: ingest's growing row arrays too (resized here, written there)."""
    address, _ = cluster
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_raw / "raw" / "nturgb+d_skeletons", tmp_path / "raw" / "nturgb+d_skeletons")
    for name, settings in (("local", LOCAL), ("cluster", ComputeSettings(scheduler="distributed", address=address,
                                                                         block_size=3))):
        out = Path(name)
        ingest_raw(Path("raw"), out / "skeletons.zarr", out / "ingest_q.csv", settings, progress=False,
                   work=Path(f"work-{name}"), shard_rows=512)
        build_skeletons(out / "skeletons.zarr", out / "skeleton.zarr", out / "skeletons_q.csv", settings,
                        progress=False, shard_bytes=3 * SKELETON_SAMPLE)
    stores = [Path("skeletons.zarr"), Path("skeleton.zarr")]
    assert _digest([Path("cluster") / s for s in stores]) == _digest([Path("local") / s for s in stores])
    assert len(list((Path("cluster") / "skeletons.zarr" / "xyz").glob("*.0.0"))) >= 2
