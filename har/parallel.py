"""Parallel map over samples with dask, in bounded blocks, results in input order.

Every builder maps a per-sample function over its inputs through `map_ordered`. The scheduler comes from the
`compute` section of params.yaml: a local pool of processes (default), threads, a single thread (debugging), or
the address of an existing dask.distributed cluster, so one stage scales out unchanged. Work is submitted a block
at a time and results are yielded in order, so the consumer holds one block in memory whatever the dataset size.
Stages map through har.shard_map.map_to_shards, which uses map_ordered on the local schedulers (this process writes
the shards) and, on a cluster, keeps the results on the workers and has them write the shards.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Literal, TypeVar

import dask
from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ComputeSettings:
    """How stages parallelise: scheduler 'processes' | 'threads' | 'synchronous' | 'distributed'."""
    scheduler: Literal["processes", "threads", "synchronous", "distributed"] = "processes"
    workers: int = 2
    address: str | None = None  # tcp://host:8786 of a running dask.distributed scheduler
    block_size: int = 64  # samples in flight at once (bounds the writer's memory)

    def __post_init__(self):
        if self.scheduler == "distributed" and not self.address:
            raise ValueError("compute.scheduler 'distributed' needs compute.address (tcp://host:port)")
        if self.workers < 1 or self.block_size < 1:
            raise ValueError("compute.workers and compute.block_size must be at least 1")


def run_in_directory(directory: str, func: Callable[[T], R], item: T) -> R:
    """func(item) with `directory` as the working directory (a dask worker runs one stage's tasks at a time)."""
    if os.getcwd() != directory:
        os.chdir(directory)
    return func(item)


@contextmanager
def _executor(settings: ComputeSettings):
    """Yield the kwargs for dask.compute: a persistent pool or client lives for the whole map."""
    if settings.scheduler == "processes" and settings.workers > 1:
        # forkserver: cheap workers that do not inherit the parent's threads (tqdm, zarr's event loop).
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(settings.workers, mp_context=context) as pool:
            yield {"scheduler": "processes", "pool": pool}
    elif settings.scheduler == "distributed":
        from distributed import Client
        with Client(settings.address) as client:
            yield {"scheduler": client.get}
    elif settings.scheduler == "threads" and settings.workers > 1:
        yield {"scheduler": "threads", "num_workers": settings.workers}
    else:
        yield {"scheduler": "synchronous"}


def map_ordered(func: Callable[[T], R], items: Iterable[T], settings: ComputeSettings,
                *, desc: str = "", total: int | None = None, progress: bool = True) -> Iterator[R]:
    """Yield func(item) for every item, in order, computing one block of items at a time with dask.

    `items` is consumed lazily, a block at a time, so a reader generator can feed it without the whole dataset
    in memory. func must be picklable (a top-level function or a functools.partial of one) for the process and
    distributed schedulers.
    """
    if total is None and isinstance(items, Sized):
        total = len(items)
    iterator = iter(items)
    if settings.scheduler == "distributed":
        # Workers started elsewhere (another directory, another node) resolve the stage's relative paths against
        # the driver's working directory, which must be the same path on every node (a shared filesystem).
        func = partial(run_in_directory, os.getcwd(), func)
    # disable=None: the bar shows on a terminal only, so captured output (CI logs, a test) holds no bar residue
    with _executor(settings) as kwargs, tqdm(total=total, desc=desc, unit="sample", disable=not progress or None,
                                             dynamic_ncols=True, mininterval=1.0) as bar:
        try:
            while block := list(islice(iterator, settings.block_size)):
                tasks = [dask.delayed(func, pure=False)(item) for item in block]
                results = dask.compute(*tasks, **kwargs)
                bar.update(len(block))
                yield from results
        except BaseException:  # an error, or the consumer gave up (GeneratorExit): clear the unfinished bar, so
            bar.leave = False  # the error message is the last thing on the terminal
            raise
