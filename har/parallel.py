"""Parallel map over samples, in a bounded window, results in input order.

Every builder maps a per-sample function over its inputs through `map_ordered`. The scheduler comes from the
`compute` section of params.yaml: a local pool of processes (default), threads, a single thread (debugging), or
the address of an existing dask.distributed cluster, so one stage scales out unchanged. At most
`compute.block_size` items are in flight and results are yielded in order, so the consumer holds one block in
memory whatever the dataset size.
Stages map through har.shard_map.map_to_shards, which uses map_ordered on the local schedulers (this process writes
the shards) and, on a cluster, keeps the results on the workers and has them write the shards.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
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


def _run_batch(func: Callable[[T], R], batch: list[T]) -> list[R]:
    return [func(item) for item in batch]


@contextmanager
def _pool(settings: ComputeSettings) -> Iterator[Executor | None]:
    """The local pool of the whole map (None: run here, one item at a time)."""
    if settings.scheduler == "processes" and settings.workers > 1:
        # forkserver: cheap workers that do not inherit the parent's threads (tqdm, zarr's event loop).
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(settings.workers, mp_context=context) as pool:
            yield pool
    elif settings.scheduler == "threads" and settings.workers > 1:
        with ThreadPoolExecutor(settings.workers) as pool:
            yield pool
    else:
        yield None


def _windowed(pool: Executor, func: Callable[[T], R], iterator: Iterator[T], settings: ComputeSettings,
              bar: tqdm) -> Iterator[R]:
    """func over the items through `pool`, in batches, at most block_size items in flight, yielded in order.

    The pool works on the next batches while the consumer handles this one: the caller's writes overlap the
    compute instead of alternating with it (a block-synchronous dask.compute left each side idle half the time,
    and building a task graph per sample cost this process about 0.5 ms per sample)."""
    batch_size = max(1, settings.block_size // (2 * settings.workers))
    flying: deque = deque()
    while True:
        while sum(len(batch) for batch, _ in flying) < settings.block_size \
                and (batch := list(islice(iterator, batch_size))):
            flying.append((batch, pool.submit(_run_batch, func, batch)))
        if not flying:
            return
        batch, future = flying.popleft()
        results = future.result()
        bar.update(len(batch))
        yield from results


def map_ordered(func: Callable[[T], R], items: Iterable[T], settings: ComputeSettings,
                *, desc: str = "", total: int | None = None, progress: bool = True) -> Iterator[R]:
    """Yield func(item) for every item, in order: on a local pool of processes or threads (a window of batches in
    flight), here one at a time (synchronous), or on a dask.distributed cluster a block at a time.

    `items` is consumed lazily, at most compute.block_size items ahead of the consumer, so a reader generator can
    feed it without the whole dataset in memory. func must be picklable (a top-level function or a
    functools.partial of one) for the process and distributed schedulers.
    """
    if total is None and isinstance(items, Sized):
        total = len(items)
    iterator = iter(items)
    # disable=None: the bar shows on a terminal only, so captured output (CI logs, a test) holds no bar residue
    with tqdm(total=total, desc=desc, unit="sample", disable=not progress or None, dynamic_ncols=True,
              mininterval=1.0) as bar:
        try:
            if settings.scheduler == "distributed":
                yield from _on_cluster(func, iterator, settings, bar)
                return
            with _pool(settings) as pool:
                if pool is not None:
                    yield from _windowed(pool, func, iterator, settings, bar)
                    return
                for item in iterator:
                    yield func(item)
                    bar.update(1)
        except BaseException:  # an error, or the consumer gave up (GeneratorExit): clear the unfinished bar, so
            bar.leave = False  # the error message is the last thing on the terminal
            raise


def _on_cluster(func: Callable[[T], R], iterator: Iterator[T], settings: ComputeSettings,
                bar: tqdm) -> Iterator[R]:
    """A block at a time on a dask.distributed cluster. Workers started elsewhere (another directory, another
    node) resolve the stage's relative paths against the driver's working directory, which must be the same path
    on every node (a shared filesystem)."""
    from distributed import Client

    func = partial(run_in_directory, os.getcwd(), func)
    with Client(settings.address) as client:
        while block := list(islice(iterator, settings.block_size)):
            tasks = [dask.delayed(func, pure=False)(item) for item in block]
            results = dask.compute(*tasks, scheduler=client.get)
            bar.update(len(block))
            yield from results
