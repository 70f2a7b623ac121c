"""The one shard writer: whole shards only, typed outcomes, and a journal that resumes exactly where it stopped."""
from __future__ import annotations

import numpy as np
import pytest
import zarr

from har.io.shards import Kept, KeptSamples, Quarantined, Settled, SettledLog, ShardSink, ShardWriter
from har.io.store import create_sample_array
from har.io.work import Journal


def _group(path):
    return zarr.open_group(str(path), mode="w", zarr_format=3)


@pytest.mark.parametrize("eager", [True, False])
def test_writer_writes_each_shard_once_when_it_is_full(tmp_path, monkeypatch, eager):
    from har.io.shard_encode import ShardEncoder

    array = create_sample_array(_group(tmp_path / "a.zarr"), "x", 10, (2,), np.uint8, per_shard=3)
    writes, zarr_writes = [], []
    writer = ShardWriter(array)
    assert writer.encoder is not None and writer.eager  # one-sample chunks: compressed as they arrive
    writer.eager = eager
    original = ShardEncoder.write_file
    monkeypatch.setattr(ShardEncoder, "write_file", lambda self, shard, data: (
        writes.append(shard), original(self, shard, data)))
    monkeypatch.setattr(type(array), "__setitem__", lambda self, key, value: zarr_writes.append(key))
    for i in range(7):
        writer.append(np.array([[i, 2 * i]], np.uint8))
        assert writer.pending_rows == (i + 1) % 3  # written exactly when a shard is full
        assert all(isinstance(p, (bytes, type(None)) if eager else np.ndarray) for p in writer.pending)
    writer.finish()
    assert writes == [0, 1, 2] and zarr_writes == []  # never a part of a shard twice, never through zarr-python
    np.testing.assert_array_equal(array[...], [[i, 2 * i] for i in range(7)])
    assert array.shape == (7, 2)


def _two_arrays(path):
    group = _group(path)
    return {"a": create_sample_array(group, "a", 20, (2,), np.int32, per_shard=3),
            "b": create_sample_array(group, "b", 20, (1,), np.int32, per_shard=5)}


def _outcome(i: int):
    return Quarantined(f"s{i}: bad") if i % 4 == 1 else Kept(i)


def _split(value: int):
    return {"a": np.array([[value, -value]], np.int32), "b": np.array([[value * 10]], np.int32)}, value


def test_a_sink_stopped_midway_resumes_to_the_same_arrays_and_records(tmp_path):
    arrays = _two_arrays(tmp_path / "full.zarr")
    sink = ShardSink(arrays, _split)
    for i in range(20):
        sink.settle(i, f"s{i}", _outcome(i))
    kept, quarantine = sink.finish()
    journal = Journal(tmp_path / "journal")
    arrays2 = _two_arrays(tmp_path / "killed.zarr")
    first = ShardSink(arrays2, _split, journal)
    for i in range(13):  # "killed" after input 12: some shards of a and b written, the rest only in memory
        first.settle(i, f"s{i}", _outcome(i))
    second = ShardSink(arrays2, _split, Journal(tmp_path / "journal"))
    start = second.resume()
    assert 0 < start <= 13 and second.reused_shards > 0
    for i in range(start, 20):
        second.settle(i, f"s{i}", _outcome(i))
    kept2, quarantine2 = second.finish()
    assert [(k.index, k.record) for k in kept2] == [(k.index, k.record) for k in kept]
    assert quarantine2 == quarantine == [(f"s{i}", f"s{i}: bad") for i in range(1, 20, 4)]
    for name in arrays:
        np.testing.assert_array_equal(arrays2[name][...], arrays[name][...])


def test_outcomes_are_typed_values():
    assert Kept(3).value == 3 and Quarantined("why").reason == "why"
    with pytest.raises(AttributeError):
        Kept(3).value = 4  # frozen


def test_settled_inputs_are_held_packed_and_read_back_in_order(monkeypatch):
    monkeypatch.setattr(SettledLog, "BATCH", 4)
    entries = [Settled(i, f"s{i}", reason="bad") if i % 3 == 0 else Settled(i, f"s{i}", (i, 2.0 * i), {"x": 1})
               for i in range(11)]
    log = SettledLog(entries)
    assert len(log.blobs) == 2 and len(log.pending) == 3  # two packed batches of 4, the rest pending
    assert list(log) == entries and list(log) == entries  # iterable again
    kept = KeptSamples(log)
    assert len(kept) == 7
    np.testing.assert_array_equal(kept.index(), [1, 2, 4, 5, 7, 8, 10])
    assert list(kept.records()) == [(i, 2.0 * i) for i in (1, 2, 4, 5, 7, 8, 10)]
    assert len(kept.records()) == 7


def test_a_journal_reset_keeps_every_entry_in_bounded_segments(tmp_path):
    journal = Journal(tmp_path / "journal")
    entries = [Settled(i, f"s{i}", i, {"x": 1}) for i in range(10)]
    journal.reset(entries, {"x": 10}, segment=3)
    assert journal.count == 4 and list(journal.entries()) == entries and journal.written() == {"x": 10}
    journal.reset([], {"x": 0})
    assert journal.count == 1 and list(journal.entries()) == [] and journal.written() == {"x": 0}
