"""The one shard writer of every stage: settled samples in input order -> whole shards, never read-modify-write.

A stage maps a per-sample function over its inputs; each result is a typed outcome, `Kept(value)` or
`Quarantined(reason)`. `ShardSink` settles outcomes in input order: a kept sample's rows go to the end of each
(N, ...) array it feeds (the store holds only kept samples, in order, so a row index is known once every earlier
sample is settled), a quarantined one only leaves its record. Each array gets one `ShardWriter`, which buffers
exactly one shard's worth of consecutive rows (the array's shard size along axis 0) and writes the shard once all
its rows are known, as one file encoded here (har.io.shard_encode; zarr-python for other layouts), never read
back. Memory: one shard per array.

Resume: after every shard written the sink appends the records settled since the last segment to its journal (a
`Journal` of the stage's work area, har.io.work). `ShardSink.resume` rebuilds the settled records and the written
shard counts from the journal, and tells the stage from which input to restart; rows that some array already
wrote are skipped for that array, and shard files a killed run left beyond the journal are deleted.
"""
from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import zarr

from har.io.shard_encode import ShardEncoder, write_rows

T = TypeVar("T")


@dataclass(frozen=True)
class Kept(Generic[T]):
    """A usable sample: `value` is what the stage's per-sample function computed."""
    value: T


@dataclass(frozen=True)
class Quarantined:
    """An unusable sample and why (the text goes to the stage's quarantine CSV)."""
    reason: str


Outcome = Kept | Quarantined


@dataclass(frozen=True)
class Settled:
    """A settled input: its position, and either its per-sample record and row counts, or a quarantine reason."""
    index: int
    name: str
    record: Any = None
    rows: Mapping[str, int] = field(default_factory=dict)
    reason: str | None = None


class SettledLog:
    """Settled inputs in input order, held as pickled batches: about a hundred bytes a sample instead of the
    kilobytes its record takes as Python objects (at NTU120 size that is the difference between a flat and a
    growing stage), unpickled a batch at a time whenever it is read."""

    BATCH = 512

    def __init__(self, entries: Iterable[Settled] = ()):
        self.blobs: list[bytes] = []
        self.pending: list[Settled] = []
        self.packed = self.kept = 0
        for entry in entries:
            self.append(entry)

    def append(self, entry: Settled) -> None:
        self.pending.append(entry)
        self.kept += entry.reason is None
        if len(self.pending) >= self.BATCH:
            self.blobs.append(pickle.dumps(self.pending, protocol=5))
            self.packed += len(self.pending)
            self.pending = []

    def __len__(self) -> int:
        return self.packed + len(self.pending)

    def __iter__(self) -> Iterator[Settled]:
        for blob in self.blobs:
            yield from pickle.loads(blob)
        yield from list(self.pending)


class KeptSamples:
    """The kept entries of a SettledLog in store order (row i of every per-sample array is entry i); iterable
    again and again, never all in memory as objects. `records()` iterates their records the same way."""

    def __init__(self, log: SettledLog):
        self.log = log

    def __len__(self) -> int:
        return self.log.kept

    def __iter__(self) -> Iterator[Settled]:
        return (entry for entry in self.log if entry.reason is None)

    def index(self) -> np.ndarray:
        """(N,) int64 input position of each kept sample."""
        return np.fromiter((entry.index for entry in self), np.int64, len(self))

    def records(self) -> Records:
        return Records(self)


class Records:
    """The records of KeptSamples, re-iterable."""

    def __init__(self, kept: KeptSamples):
        self.kept = kept

    def __len__(self) -> int:
        return len(self.kept)

    def __iter__(self) -> Iterator[Any]:
        return (entry.record for entry in self.kept)


def shard_rows(array: zarr.Array) -> int:
    """Rows per shard along axis 0 (rows per chunk for an unsharded array)."""
    return int(array.shards[0] if array.shards else array.chunks[0])


class ShardWriter:
    """Appends rows to an (N, ...) array one whole shard at a time.

    written: rows already in the store (a multiple of the shard size); skip: rows to drop before appending (they
    were written before a resume). A growing array (created with fewer rows) is resized before each write.
    """

    def __init__(self, array: zarr.Array, written: int = 0, skip: int = 0):
        self.array, self.written, self.skip = array, written, skip
        self.per_shard = shard_rows(array)
        self.encoder = ShardEncoder.for_array(array)  # None: zarr-python writes (same bytes, slower)
        # One-sample chunks are compressed as they arrive, so a shard waits in memory as zstd frames, not raw rows
        self.eager = self.encoder is not None and self.encoder.chunk_rows == 1
        self.pending: deque = deque()  # buffered (k, ...) row arrays, or one chunk's bytes per row when eager
        self.pending_rows = 0

    def append(self, rows: np.ndarray) -> int:
        """Buffer rows (k, ...); write every shard they complete. Returns the number of shards written."""
        if self.skip:
            dropped = min(self.skip, len(rows))
            rows, self.skip = rows[dropped:], self.skip - dropped
        if len(rows):
            if self.eager:
                self.pending.extend(self.encoder.frame(rows[k:k + 1]) for k in range(len(rows)))
            else:
                self.pending.append(rows)
            self.pending_rows += len(rows)
        shards = self.pending_rows // self.per_shard
        if shards:
            self._write(shards * self.per_shard)
        return shards

    def _write(self, count: int) -> None:
        start, stop = self.written, self.written + count
        if self.array.shape[0] < stop:
            self.array.resize((stop, *self.array.shape[1:]))
        for first in range(start, stop, self.per_shard):  # one shard per write, from views of the buffered rows
            count = min(self.per_shard, stop - first)
            if self.eager:
                frames = [self.pending.popleft() for _ in range(count)]
                self.pending_rows -= count
                self.encoder.write_file(first // self.per_shard, self.encoder.assemble(frames))
            else:
                write_rows(self.array, first, self._take(count), self.encoder)
        self.written = stop

    def _take(self, count: int) -> list[np.ndarray]:
        """The first `count` buffered rows as views of the arrays that hold them (no shard-sized copy)."""
        pieces = []
        while count:
            head = self.pending[0]
            if len(head) <= count:
                pieces.append(self.pending.popleft())
            else:
                pieces.append(head[:count])
                self.pending[0] = head[count:]
            count -= len(pieces[-1])
            self.pending_rows -= len(pieces[-1])
        return pieces

    @property
    def done(self) -> int:
        """Rows on disk (written here at once; har.shard_map.RemoteShardWriter's shards land later)."""
        return self.written

    def finish(self) -> None:
        """Write the last (partial) shard and trim the array to the rows written."""
        if self.pending_rows:
            self._write(self.pending_rows)
        self.array.resize((self.written, *self.array.shape[1:]))


def remove_shards_from(array: zarr.Array, first_row: int) -> None:
    """Delete the shard files of `array` that start at or after `first_row` (flat keys `<i>.0.0...`), so a
    partial final shard is never merged with what a killed run left there."""
    folder = Path(str(array.store_path.store.root)) / array.path
    first_shard = first_row // shard_rows(array)
    for path in folder.iterdir():
        head = path.name.split(".", 1)[0]
        if head.isdigit() and int(head) >= first_shard:
            path.unlink()


class ShardSink:
    """Settles outcomes in input order into whole-shard writes of `arrays`, plus records for the stage.

    split(value) -> (rows: {array name: (k, ...) rows}, record): what a kept sample adds to each array and the
    small per-sample record the stage writes at the end. `journal` (optional) makes the work resumable.
    """

    def __init__(self, arrays: Mapping[str, zarr.Array], split: Callable[[Any], tuple[dict, Any]],
                 journal=None):
        self.arrays, self.split, self.journal = dict(arrays), split, journal
        self.writers = {name: ShardWriter(array) for name, array in self.arrays.items()}
        self.settled = SettledLog()
        self.unjournaled: list[Settled] = []
        self.start = 0  # the first input still to compute
        self.reused_shards = 0
        self.journaled: dict[str, int] = {}

    def resume(self) -> int:
        """Restore what the journal holds; returns the input position to restart from."""
        if self.journal is None or not self.journal.count:
            return 0
        written = self.journal.written()
        settled = SettledLog(self.journal.entries())
        if not len(settled):
            return 0
        restart, skip = _restart_point(settled, written, list(self.arrays))
        self.settled = SettledLog(s for s in settled if s.index < restart)
        for name, array in self.arrays.items():
            remove_shards_from(array, written.get(name, 0))
            self.writers[name] = ShardWriter(array, written.get(name, 0), skip[name])
        self.reused_shards = sum(w.written // w.per_shard for w in self.writers.values())
        self.start = restart
        self.journaled = self.written()
        self.journal.reset(self.settled, self.journaled)
        return restart

    def written(self) -> dict[str, int]:
        """Rows each array holds on disk."""
        return {name: writer.done for name, writer in self.writers.items()}

    def settle(self, index: int, name: str, outcome: Outcome) -> None:
        """Record the outcome of input `index` (inputs must arrive in order)."""
        if isinstance(outcome, Quarantined):
            self._add(Settled(index, name, reason=outcome.reason), 0)
        else:
            rows, record = self.split(outcome.value)
            self.settle_rows(index, name, {k: np.asarray(v) for k, v in rows.items()}, record)

    def settle_rows(self, index: int, name: str, rows: Mapping[str, Any], record: Any) -> None:
        """Record kept input `index` already split: rows {array name: (k, ...) rows} (arrays, or references to
        rows held elsewhere that the writers know how to write, har.shard_map.RowRef) and its record."""
        entry = Settled(index, name, record, {k: len(v) for k, v in rows.items()})
        self._add(entry, sum(self.writers[k].append(v) for k, v in rows.items()))

    def _add(self, entry: Settled, shards: int) -> None:
        self.settled.append(entry)
        self.unjournaled.append(entry)
        if shards:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Journal the inputs settled since the last segment with the rows each array holds on disk (when a
        writer's shards land later than they are planned, the rows finished so far)."""
        if self.journal is not None and (self.unjournaled or self.written() != self.journaled):
            self.journaled = self.written()
            self.journal.append(self.unjournaled, self.journaled)
            self.unjournaled = []

    def finish(self) -> tuple[KeptSamples, list[tuple[str, str]]]:
        """Write every last shard; returns (the kept samples in store order, quarantine rows (sample, reason))."""
        for writer in self.writers.values():
            writer.finish()
        return KeptSamples(self.settled), [(s.name, s.reason) for s in self.settled if s.reason is not None]

    @property
    def shards(self) -> int:
        """Shards of every array once finished."""
        return sum(-(-w.written // w.per_shard) for w in self.writers.values())


def _restart_point(settled: Iterable[Settled], written: Mapping[str, int],
                   names: list[str]) -> tuple[int, dict[str, int]]:
    """(first input to recompute, rows each array must skip): the first kept sample that some array has not
    written in full; every array then skips the rows it already holds from that sample on."""
    offsets = dict.fromkeys(names, 0)
    last = -1
    for entry in settled:
        last = entry.index
        if entry.reason is not None:
            continue
        if any(offsets[k] + entry.rows.get(k, 0) > written.get(k, 0) for k in names):
            return entry.index, {k: written.get(k, 0) - offsets[k] for k in names}
        for k in names:
            offsets[k] += entry.rows.get(k, 0)
    return last + 1, {k: written.get(k, 0) - offsets[k] for k in names}
