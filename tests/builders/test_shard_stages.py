"""Stages write whole shards only (write amplification <= 1.1) and resume after a SIGKILL to identical bytes."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from har.builders.heatmaps import build_heatmaps
from har.builders.skeletons import build_skeletons
from har.parallel import ComputeSettings

SYNC = ComputeSettings(scheduler="synchronous", block_size=4)
SKELETON_SAMPLE = 2 * 32 * 25 * 3 * 4  # default (M, T, V, 3) float32
HEATMAP_SAMPLE = 25 * 48 * 32 * 32  # default (K, T, H, W) uint8


def _written_bytes() -> int:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["wchar"])


def _store_bytes(store: Path) -> int:
    return sum(f.stat().st_size for f in store.rglob("*") if f.is_file())


def _digest(store: Path) -> dict[str, str]:
    return {str(f.relative_to(store)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(store.rglob("*")) if f.is_file()}


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
@pytest.mark.parametrize("stage", ["skeletons", "heatmaps"])
def test_stage_writes_each_shard_once(tiny_raw, tmp_path, stage):
    """Several shards (a small shard target): the bytes the stage writes stay within 1.1x of the store."""
    out = tmp_path / f"{stage}.zarr"
    before = _written_bytes()
    if stage == "skeletons":
        build_skeletons(tiny_raw / "skeletons.zarr", out, tmp_path / "q.csv", SYNC, progress=False,
                        work=tmp_path / "work", shard_bytes=4 * SKELETON_SAMPLE)
        shards = len(list((out / "x").glob("*.0.0.0.0")))
    else:
        build_heatmaps(tiny_raw / "skeletons.zarr", out, tmp_path / "q.csv", SYNC, progress=False,
                       work=tmp_path / "work", shard_bytes=4 * HEATMAP_SAMPLE)
        shards = len(list((out / "heatmaps").glob("*.0.0.0.0")))
    written = _written_bytes() - before
    assert shards >= 5
    assert written / _store_bytes(out) <= 1.1
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


SHARD_BYTES = 120_000  # heatmaps: a chunk per sample; keypoints: 8 samples a shard
RUNNER = """
import sys, time
from pathlib import Path
import har.builders.heatmaps as stage
from har.parallel import ComputeSettings
interim, out, work, slow = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "slow"
real = stage.heatmap_sample
def slowed(*args, **kwargs):
    time.sleep(0.15)
    return real(*args, **kwargs)
if slow:
    stage.heatmap_sample = slowed
summary = stage.build_heatmaps(interim, out, out.parent / "q.csv", ComputeSettings(scheduler="synchronous",
                               block_size=1), progress=False, work=work, shard_bytes=SHARD_BYTES)
print(summary)
""".replace("SHARD_BYTES", str(SHARD_BYTES))


def _run(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUNNER, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_heatmaps_killed_midway_resume_to_identical_bytes(tiny_raw, tmp_path):
    interim, out, work = tiny_raw / "skeletons.zarr", tmp_path / "heatmaps.zarr", tmp_path / "work"
    stale = work / "0123456789abcdef"
    stale.mkdir(parents=True)  # work of another fingerprint: discarded
    process = _run([interim, out, work, "slow"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(work.glob("*/journal/*.pkl"))) < 12:
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not out.exists() and len(list(work.glob("*/journal/*.pkl"))) >= 12
    (tmp_path / f"heatmaps.zarr.tmp-{process.pid}").mkdir()  # what a killed atomic_store leaves
    resumed = _run([interim, out, work, "fast"])
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert "reused " in stderr and "'resumed': 'reused " in stdout
    reused = int(stderr.split("reused ")[1].split(" of ")[0])
    restart = int(stderr.split("recomputed samples ")[1].split("..")[0])
    assert reused >= 9 and restart >= 8  # 8+ heatmap chunks and a keypoints shard were kept, not recomputed
    assert not stale.exists() and not list(tmp_path.glob("heatmaps.zarr.tmp-*"))
    reference = tmp_path / "reference.zarr"
    build_heatmaps(interim, reference, tmp_path / "q_ref.csv", SYNC, progress=False,
                   shard_bytes=SHARD_BYTES)
    assert _digest(out) == _digest(reference)
    assert (tmp_path / "q.csv").read_bytes() == (tmp_path / "q_ref.csv").read_bytes()
