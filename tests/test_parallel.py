"""har.parallel: tasks of a stage run in the driver's working directory wherever their worker was started."""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from har.parallel import run_in_directory


def read_relative(name: str) -> str:
    return Path(name).read_text()


def test_a_task_resolves_relative_paths_against_the_drivers_directory(tmp_path, monkeypatch):
    (tmp_path / "sample.txt").write_text("from the driver's directory")
    elsewhere = tmp_path / "worker-home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a dask worker started in another directory
    task = partial(run_in_directory, str(tmp_path), read_relative)
    assert task("sample.txt") == "from the driver's directory"
    assert os.getcwd() == str(tmp_path)
