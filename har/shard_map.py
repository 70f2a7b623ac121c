"""Map a stage's per-sample function into whole-shard writes: here, or by the workers of a dask cluster.

`map_to_shards` settles every input into a har.io.shards.ShardSink in input order and returns what
`ShardSink.finish` returns. The store holds only kept samples, so a sample's row is known only once every earlier
sample is settled; both paths plan rows the same way (the sink's ShardWriters) and write the same shards with the
same writes, so the store bytes do not depend on the scheduler.

- Local schedulers (processes, threads, synchronous): har.parallel.map_ordered brings each outcome here and this
  process writes every shard.
- `distributed`: results stay on the workers. A task per input block computes its samples and splits the kept
  ones into per-array rows (`_compute_block`); only the block's summary (per sample: the quarantine reason, or
  the small record and row counts) travels to this process, which settles it and hands each writer references
  to the rows (`RowRef`: block, first row, last row). Once all rows of a shard are known, one task writes that
  whole shard on a worker (`_write_shard`), pulling the rows it needs from the workers that hold them. Each
  shard has exactly one writing task, and this process writes no shard: it only resizes arrays (metadata) and
  writes the small per-sample arrays at the end. A late quarantine (a video that fails to decode) costs nothing
  extra: it only moves where the next rows go before their shard is planned.

Memory on the cluster: the blocks in flight (`window` = 2 per worker) plus the rows of each array's unfinished
shard, as in the local writer. Shard writes land asynchronously; the journal records only the shards finished
in order (`RemoteShardWriter.done`), so a resumed run never trusts a shard that may be missing. Each shard
written is logged at DEBUG (logger `har.shard_map`) with the id of the process that wrote it. The inputs are still
read here and sent with each block task (skeleton rows or file paths: small next to the shards).
"""
from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

import numpy as np
import zarr
from tqdm import tqdm

from har.io.shard_encode import ShardEncoder, write_rows
from har.io.shards import Kept, Outcome, Quarantined, Settled, ShardSink, ShardWriter, shard_rows
from har.parallel import ComputeSettings, map_ordered, run_in_directory

log = logging.getLogger(__name__)


def map_to_shards(sink: ShardSink, func: Callable[[Any], Outcome], items: Iterable, names: Sequence[str],
                  settings: ComputeSettings, *, start: int = 0, total: int | None = None, desc: str = "",
                  progress: bool = True, on_quarantine: Callable[[str], None] | None = None,
                  ) -> tuple[list[Settled], list[tuple[str, str]]]:
    """Settle func(item) of every item (inputs start, start+1, ... named names[index]) into `sink` and finish it.

    on_quarantine(reason) runs for each quarantined input in order before it is settled (it may raise: fail
    fast). Returns sink.finish(): (kept records in store order, quarantine rows (sample, reason))."""
    if settings.scheduler == "distributed":
        return _on_cluster(sink, func, items, names, settings, start, total, desc, progress, on_quarantine)
    results = map_ordered(func, items, settings, desc=desc, total=total, progress=progress)
    for index, outcome in enumerate(results, start):
        if on_quarantine is not None and isinstance(outcome, Quarantined):
            on_quarantine(outcome.reason)
        sink.settle(index, names[index], outcome)
    return sink.finish()


@dataclass(frozen=True)
class RowRef:
    """Rows first..last (exclusive) of an array held by the cluster (a future of a (k, ...) numpy array)."""
    rows: Any
    first: int
    last: int

    def __len__(self) -> int:
        return self.last - self.first

    def __getitem__(self, part: slice) -> RowRef:
        """Rows part.start.. of these (ShardWriter drops rows written before a resume this way)."""
        first, last, _ = part.indices(len(self))
        return RowRef(self.rows, self.first + first, self.first + last)


def _write_shard(array: zarr.Array, start: int, pieces: list[tuple[np.ndarray, int, int]]) -> tuple[int, str, int]:
    """Worker: write rows start.. of `array` (one whole shard, or the last one) from pieces (rows, first, last),
    in one write, exactly as ShardWriter does. Returns (process id, array path, shard number)."""
    parts = [rows[first:last] for rows, first, last in pieces]
    write_rows(array, start, parts, ShardEncoder.for_array(array))
    return os.getpid(), array.path, start // shard_rows(array)


class RemoteShardWriter(ShardWriter):
    """A ShardWriter whose pending rows are RowRefs and whose shards are written by tasks on the cluster.

    `written`: rows planned (shards submitted); `done`: rows of the shards finished in order; `log`: (process
    id, array path, shard number) of every shard written."""

    def __init__(self, writer: ShardWriter, client, directory: str):
        super().__init__(writer.array, writer.written, writer.skip)
        self.eager = False  # pending rows are references to rows on the cluster; the writing task encodes them
        self.client, self.directory = client, directory
        self.flying: deque = deque()  # (rows on disk once it finishes, future), in submission order
        self.finished = writer.written
        self.log: list[tuple[int, str, int]] = []

    def _write(self, count: int) -> None:
        start, stop = self.written, self.written + count
        if self.array.shape[0] < stop:
            self.array.resize((stop, *self.array.shape[1:]))  # metadata only; the task gets the resized array
        refs = deque(self.pending)
        for first in range(start, stop, self.per_shard):
            need, pieces = min(self.per_shard, stop - first), []
            while need:
                ref = refs.popleft()
                take = min(need, len(ref))
                pieces.append((ref.rows, ref.first, ref.first + take))
                if take < len(ref):
                    refs.appendleft(ref[take:])
                need -= take
            task = partial(run_in_directory, self.directory, _unpack_write)
            future = self.client.submit(task, (self.array, first, pieces), pure=False)
            self.flying.append((min(first + self.per_shard, stop), future))
        self.pending, self.written = list(refs), stop
        self.pending_rows = sum(map(len, self.pending))

    @property
    def done(self) -> int:
        while self.flying and self.flying[0][1].done():
            rows, future = self.flying.popleft()
            pid, path, shard = future.result()  # raises the task's error here
            log.debug("shard %d of %s written by process %d", shard, path, pid)
            self.log.append((pid, path, shard))
            self.finished = rows
        return self.finished

    def wait(self, limit: int) -> None:
        """Block until at most `limit` shard writes are in flight."""
        while len(self.flying) > limit:
            self.flying[0][1].result()
            _ = self.done

    def finish(self) -> None:
        if self.pending_rows:
            self._write(self.pending_rows)
        self.wait(0)
        self.array.resize((self.written, *self.array.shape[1:]))


def _unpack_write(args: tuple) -> tuple[int, str, int]:
    return _write_shard(*args)


def _compute_block(func: Callable[[Any], Outcome], split: Callable, items: list) -> tuple[list, dict]:
    """Worker: outcomes of a block -> (summary, rows). summary: per input a Quarantined, or (record, {array: row
    count}); rows: {array: (k, ...) rows of the block's kept samples, in order}."""
    summary, parts = [], {}
    for item in items:
        outcome = func(item)
        if isinstance(outcome, Kept):
            rows, record = split(outcome.value)
            summary.append((record, {k: len(v) for k, v in rows.items()}))
            for name, value in rows.items():
                parts.setdefault(name, []).append(np.asarray(value))
        else:
            summary.append(outcome)
    return summary, {name: np.concatenate(values, axis=0) for name, values in parts.items()}


def _summary(block: tuple) -> list:
    return block[0]


def _rows(block: tuple, name: str) -> np.ndarray | None:
    return block[1].get(name)


def _submit_block(client, task: Callable, names: Iterable[str], block: list) -> tuple:
    """(summary future, {array: rows future}): the block's rows stay where they were computed."""
    computed = client.submit(task, block, pure=False)
    return client.submit(_summary, computed), {name: client.submit(_rows, computed, name) for name in names}


def _settle_block(sink: ShardSink, first: int, summary: list, rows: Mapping, names: Sequence[str],
                  on_quarantine: Callable[[str], None] | None) -> None:
    offsets = dict.fromkeys(rows, 0)
    for index, entry in enumerate(summary, first):
        if isinstance(entry, Quarantined):
            if on_quarantine is not None:
                on_quarantine(entry.reason)
            sink.settle(index, names[index], entry)
            continue
        record, counts = entry
        refs = {name: RowRef(rows[name], offsets[name], offsets[name] + count) for name, count in counts.items()}
        for name, count in counts.items():
            offsets[name] += count
        sink.settle_rows(index, names[index], refs, record)


def _on_cluster(sink: ShardSink, func, items, names, settings, start, total, desc, progress, on_quarantine):
    from distributed import Client

    directory = os.getcwd()  # workers started elsewhere resolve relative paths against it (shared filesystem)
    if total is None and isinstance(items, Sized):
        total = len(items)
    task = partial(run_in_directory, directory, partial(_compute_block, func, sink.split))
    iterator = iter(items)
    with Client(settings.address) as client, tqdm(total=total, desc=desc, unit="sample", dynamic_ncols=True,
                                                  disable=not progress or None, mininterval=1.0) as bar:
        sink.writers = {name: RemoteShardWriter(w, client, directory) for name, w in sink.writers.items()}
        window = 2 * max(1, len(client.scheduler_info()["workers"]))
        flying: deque = deque()  # (first input, block length, summary future, rows futures)
        first = start
        while True:
            while len(flying) < window and (block := list(islice(iterator, settings.block_size))):
                flying.append((first, len(block), *_submit_block(client, task, sink.arrays, block)))
                first += len(block)
            if not flying:
                break
            at, count, summary, rows = flying.popleft()
            _settle_block(sink, at, summary.result(), rows, names, on_quarantine)
            for writer in sink.writers.values():
                writer.wait(window)
            sink.checkpoint()
            bar.update(count)
        return sink.finish()
