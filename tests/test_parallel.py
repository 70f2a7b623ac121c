"""har.parallel: ordered, bounded maps; tasks of a stage run in the driver's working directory wherever their
worker was started."""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest

from har.parallel import ComputeSettings, map_ordered, run_in_directory


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


def square(x: int) -> int:
    return x * x


def fail_on_five(x: int) -> int:
    if x == 5:
        raise ValueError("item 5 is bad")
    return x


@pytest.mark.parametrize("scheduler", ["processes", "threads", "synchronous"])
def test_map_ordered_yields_every_result_in_input_order(scheduler):
    settings = ComputeSettings(scheduler=scheduler, workers=2, block_size=8)
    assert list(map_ordered(square, range(50), settings, progress=False)) == [x * x for x in range(50)]


@pytest.mark.parametrize("scheduler", ["processes", "threads"])
def test_map_ordered_reads_at_most_a_block_ahead_of_its_consumer(scheduler):
    settings = ComputeSettings(scheduler=scheduler, workers=2, block_size=8)
    taken = []

    def items():
        for x in range(1000):
            taken.append(x)
            yield x

    results = map_ordered(square, items(), settings, progress=False)
    for _ in range(3):
        next(results)
    assert len(taken) <= 8 + 3  # the window (block_size) beyond what was consumed, never the whole input
    results.close()


@pytest.mark.parametrize("scheduler", ["processes", "threads", "synchronous"])
def test_map_ordered_raises_the_error_of_a_failing_item(scheduler):
    settings = ComputeSettings(scheduler=scheduler, workers=2, block_size=4)
    with pytest.raises(ValueError, match="item 5 is bad"):
        list(map_ordered(fail_on_five, range(20), settings, progress=False))
