"""benchmarks/bench_scale.py: the outside-the-process measurement, the target checks, and a tiny run of its plumbing."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_scale.py"
spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

# A child that starts an orphaned grandchild (like a forkserver outliving its parent) which holds 150 MB and writes
# 6 MB after the child has exited: only a subreaper that waits for every descendant sees those.
ORPHAN = textwrap.dedent("""
    import os, sys, time
    if os.fork() == 0:
        time.sleep(0.3)
        block = bytearray(150_000_000)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(0.5)
        with open(sys.argv[1], "wb") as f:
            f.write(os.urandom(6_000_000)); f.flush(); os.fsync(f.fileno())
        os._exit(0)
""")


def test_measure_sees_orphaned_descendants(tmp_path):
    log = tmp_path / "orphan.log"
    figures = bench.measured([sys.executable, "-c", ORPHAN, str(tmp_path / "out.bin")], tmp_path, log)
    assert (tmp_path / "out.bin").stat().st_size == 6_000_000
    assert figures["write_bytes"] >= 6_000_000
    assert figures["peak_rss"] >= 150_000_000 and figures["max_rss"] >= 150_000_000
    assert figures["wall_s"] < 0.3  # the child itself exits at once; the wait for the orphan is not its time


def test_measure_reports_a_failing_command(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        bench.measured([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], tmp_path,
                       tmp_path / "fail.log")


def _run(n: int, wall: float, rss: int) -> dict:
    stage = {"wall_s": wall, "peak_rss": rss}
    return {"n": n, "stages": {"ingest": stage, "skeletons": stage, "heatmaps": stage}, "dvc_status_s": 1.5}


def test_targets_are_computed_from_the_figures(capsys):
    results = [_run(1000, 10.0, 100), _run(10000, 100.0, 200), _run(56880, 119.0 * 5.688, 230)]
    verdicts = bench.check_scale(results)
    out = capsys.readouterr().out
    assert verdicts == [True, False, False, True]  # cost 1.19x; RSS 1.15x; 3 x 677 s > 6 min; status 1.5 s
    assert "1.19" in out and "1.15" in out
    assert bench.check_scale([_run(1000, 10.0, 100), _run(2000, 30.0, 100)])[0] is False  # 1.5x per sample


@pytest.mark.parametrize("raw", ["files", "zip"])
def test_tiny_scale_run(tmp_path, raw):
    """The whole scale part at N=6 (no video): every stage measured, the table printed, then the stages recorded in
    a DVC project built from the repository's dvc.yaml (foreach groups included) and a no-op `dvc status` timed;
    the raw skeletons as files, or in NTU's zip archive."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "6", "--no-video", "--raw", raw,
                             "--workdir", str(tmp_path), "--json", str(tmp_path / "figures.json")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for stage in ("synth", "ingest", "skeletons", "heatmaps"):
        assert f"     6 {stage}" in result.stdout
    figures = json.loads((tmp_path / "figures.json").read_text())["scale"][0]
    assert figures["synth"]["files"] == (7 if raw == "files" else 2)  # 6 .skeleton files or one zip, the manifest
    assert all(stage["write_bytes"] > 0 and stage["files"] > 0 for stage in figures["stages"].values())
    assert 0 < figures["dvc_status_s"] and 0 < figures["dvc_status_stores_s"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("bench_scale_")]  # cleaned up


def test_stages_run_with_the_environment_their_dvc_command_sets():
    """The video stage's dvc.yaml command fixes glibc's mmap threshold; the benchmark runs it the same way."""
    assert bench.stage_env("video") == {"MALLOC_MMAP_THRESHOLD_": "131072"}
    assert bench.stage_env("ingest") == {} and bench.stage_env("heatmaps") == {}
