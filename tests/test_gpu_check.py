"""benchmarks/gpu_check.py on the CPU at smoke scale: every model listed with its rates, memory and a falling
overfit loss; the JSON rows agree with the table."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
MODELS = ("glimpse", "epam", "amfi", "das", "stroi")


def test_gpu_check_runs_every_model_and_the_overfit_loss_falls(tmp_path):
    out = tmp_path / "check.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--scale", "smoke", "--batch", "4",
                           "--steps", "1", "--warmup", "0", "--overfit-steps", "4", "--loader-batches", "1",
                           "--threads", "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gpu_check: CPU") and "scale smoke" in lines[0]
    header = next(k for k, line in enumerate(lines) if line.startswith("model"))
    assert "train/s" in lines[header] and "loader/s" in lines[header] and "peak RSS MiB" in lines[header]
    rows = {line.split()[0]: line.split() for line in lines[header + 2:header + 7]}
    assert tuple(rows) == MODELS
    saved = {row["model"]: row for row in json.loads(out.read_text())["rows"]}
    for name in MODELS:
        row = saved[name]
        assert row["amp"] == "fp32" and row["channels_last"] is False  # what `auto` resolves to on the CPU
        assert row["train_samples_per_s"] > 0 and row["loader_samples_per_s"] > 0 and row["peak_memory_mb"] > 0
        assert row["overfit_last"] < row["overfit_first"] and row["ok"]
        assert rows[name][-1] == "yes" and float(rows[name][-2]) == round(row["overfit_last"], 3)


def test_gpu_check_rejects_an_unknown_model():
    done = subprocess.run([sys.executable, str(SCRIPT), "--models", "glimpse,glimse"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "unknown model(s) ['glimse']" in done.stderr
