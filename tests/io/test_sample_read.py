"""Direct one-sample reads from shard files: bit-identical to zarr-python for every layout they accept."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import zarr
from zarr.codecs import BytesCodec, GzipCodec, ZstdCodec

from har.io.sample_read import ShardSampleReader, ZarrSampleReader, sample_reader
from har.io.store import atomic_store, create_sample_array


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (NaN payloads included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_reads_like_zarr(array: zarr.Array, direct: bool = True) -> None:
    reader = sample_reader(array)
    assert isinstance(reader, ShardSampleReader) == direct
    for row in np.random.default_rng(0).permutation(array.shape[0]):
        got = reader(int(row))
        assert same(got, np.asarray(array[int(row)])), row
        assert got.flags.writeable


def test_builder_layout_is_read_directly_with_fill_values_partial_and_missing_shards(tmp_path):
    rng = np.random.default_rng(1)
    with atomic_store(tmp_path / "s.zarr") as group:
        x = create_sample_array(group, "x", 11, (2, 5, 3), np.float32, per_shard=4, fill_value=np.nan)
        x[0:4] = rng.normal(size=(4, 2, 5, 3))
        block = rng.normal(size=(4, 2, 5, 3)).astype(np.float32)
        block[1] = np.nan  # equal to the fill value: zarr does not write this chunk
        block[2, 0, :2] = np.nan
        x[4:8] = block  # rows 8..10 (the last, partial shard) are never written
        u = create_sample_array(group, "u", 7, (3, 4, 4, 3), np.uint8, per_shard=3)
        u[...] = rng.integers(0, 256, (7, 3, 4, 4, 3), dtype=np.uint8)
        u[5] = 0
        single = create_sample_array(group, "single", 3, (6,), np.int16, per_shard=1)  # unsharded: one file a chunk
        single[0], single[2] = np.arange(6), -np.arange(6)
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert not (tmp_path / "s.zarr" / "x" / "2.0.0.0").exists()
    for name in ("x", "u", "single"):
        assert_reads_like_zarr(group[name])


def test_other_encodings_byte_orders_and_a_shrunk_array(tmp_path):
    group = zarr.open_group(str(tmp_path / "o.zarr"), mode="w", zarr_format=3)
    data = np.random.default_rng(2).normal(size=(9, 4, 2)).astype(">f8")
    big = group.create_array("big", shape=data.shape, dtype=">f8", chunks=(1, 4, 2), shards=(4, 4, 2),
                              serializer=BytesCodec(endian="big"), compressors=ZstdCodec(level=1))
    big[...] = data
    plain = group.create_array("plain", shape=data.shape, dtype="<f8", chunks=(1, 4, 2), compressors=None)
    plain[...] = data
    plain.resize((6, 4, 2))
    for name in ("big", "plain"):
        assert_reads_like_zarr(zarr.open_group(str(tmp_path / "o.zarr"), mode="r")[name])


def test_layouts_it_does_not_handle_go_through_zarr_python(tmp_path):
    group = zarr.open_group(str(tmp_path / "f.zarr"), mode="w", zarr_format=3)
    data = np.arange(5 * 6, dtype=np.int32).reshape(5, 6)
    gzip = group.create_array("gzip", shape=data.shape, dtype=np.int32, chunks=(1, 6), compressors=GzipCodec())
    rows = group.create_array("rows", shape=data.shape, dtype=np.int32, chunks=(2, 6))  # two samples a chunk
    gzip[...], rows[...] = data, data
    for name in ("gzip", "rows"):
        array = zarr.open_group(str(tmp_path / "f.zarr"), mode="r")[name]
        assert isinstance(sample_reader(array), ZarrSampleReader)
        assert_reads_like_zarr(array, direct=False)


def test_errors_name_the_shard_file_and_readers_pickle(tmp_path):
    with atomic_store(tmp_path / "e.zarr") as group:
        create_sample_array(group, "x", 8, (16,), np.float32, per_shard=4)[...] = np.ones((8, 16), np.float32)
    reader = sample_reader(zarr.open_group(str(tmp_path / "e.zarr"), mode="r")["x"])
    copy = pickle.loads(pickle.dumps(reader))
    assert same(copy(5), np.ones(16, np.float32))
    with pytest.raises(IndexError, match="row 8 outside"):
        reader(8)
    shard = tmp_path / "e.zarr" / "x" / "1.0"
    raw = bytearray(shard.read_bytes())
    raw[-6] ^= 0xFF  # inside the index: its crc32c no longer matches
    shard.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"1\.0: corrupt shard index"):
        sample_reader(zarr.open_group(str(tmp_path / "e.zarr"), mode="r")["x"])(4)
    shard.write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match=r"1\.0: 10 bytes, shorter than its"):
        sample_reader(zarr.open_group(str(tmp_path / "e.zarr"), mode="r")["x"])(4)


def test_same_bytes_as_tensorstore(tmp_path):
    ts = pytest.importorskip("tensorstore")
    with atomic_store(tmp_path / "t.zarr") as group:
        x = create_sample_array(group, "x", 6, (2, 3, 3), np.float32, per_shard=4, fill_value=np.nan)
        x[:5] = np.random.default_rng(3).normal(size=(5, 2, 3, 3))
    reader = sample_reader(zarr.open_group(str(tmp_path / "t.zarr"), mode="r")["x"])
    other = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "t.zarr" / "x")}},
                    read=True).result()
    for row in range(6):
        assert same(reader(row), other[row].read().result())
