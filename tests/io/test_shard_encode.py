"""Shards encoded by har.io.shard_encode are the files zarr-python writes, byte for byte, and read back the same."""
from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.codecs import BytesCodec, GzipCodec, ShardingCodec, ZstdCodec

from har.io.shard_encode import ShardEncoder, write_rows
from har.io.store import FLAT_KEYS, compressor, create_row_array, create_sample_array


def _rows(rng: np.random.Generator, shape: tuple[int, ...], dtype, fill) -> np.ndarray:
    """Random rows where some samples are all fill value, one is all -0.0 (floats) and one mixes in the fill."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        rows = rng.normal(size=shape).astype(dtype)
    elif dtype.kind == "b":
        rows = rng.random(shape) < 0.5
    else:
        info = np.iinfo(dtype)
        rows = rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape, dtype=dtype, endpoint=True)
    rows[1] = fill
    rows[4] = fill
    rows[5].reshape(-1)[0] = fill
    if dtype.kind == "f":
        rows[2] = -0.0
        rows[6].reshape(-1)[:3] = np.nan
    return rows


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "zarr.json"}


def _both_ways(tmp_path, make, rows: np.ndarray, per_shard: int):
    """(files zarr-python wrote, files the encoder wrote, the encoder's array) for the same shard-by-shard writes."""
    out = []
    for way in ("zarr", "encoder"):
        group = zarr.open_group(str(tmp_path / f"{way}.zarr"), mode="w", zarr_format=3)
        array = make(group)
        encoder = ShardEncoder.for_array(array)
        assert encoder is not None
        for start in range(0, len(rows), per_shard):
            part = rows[start:start + per_shard]
            if way == "zarr":
                array[start:start + len(part)] = part
            else:
                write_rows(array, start, part, encoder)
        out.append((_files(tmp_path / f"{way}.zarr" / "x"), array))
    return out[0][0], out[1][0], out[1][1]


@pytest.mark.parametrize(("dtype", "fill"), [(np.uint8, 0), (np.float32, 0.0), (np.float32, np.nan),
                                             (np.int16, -1), (np.float16, 0.0), (np.int64, 7), (np.bool_, False)])
def test_sample_shards_are_the_bytes_zarr_writes(tmp_path, dtype, fill):
    rows = _rows(np.random.default_rng(0), (11, 3, 4), dtype, fill)
    per_shard = 4  # 3 shards, the last one partial
    made, ours, array = _both_ways(
        tmp_path, lambda g: create_sample_array(g, "x", 11, (3, 4), dtype, per_shard=per_shard, fill_value=fill),
        rows, per_shard)
    assert ours == made and len(ours) == 3
    np.testing.assert_array_equal(array[...], rows)


def test_frame_row_shards_pad_their_last_chunk_like_zarr(tmp_path):
    rows = np.random.default_rng(1).normal(size=(45, 25, 3)).astype(np.float32)
    rows[8:16] = 0  # a whole chunk of fill: omitted from the shard
    made, ours, array = _both_ways(
        tmp_path, lambda g: _grown(create_row_array(g, "x", (25, 3), np.float32, rows_per_chunk=8,
                                                    chunks_per_shard=3), 45), rows, 24)
    assert ours == made and len(ours) == 2
    np.testing.assert_array_equal(array[...], rows)


def _grown(array, rows):
    array.resize((rows, *array.shape[1:]))
    return array


@pytest.mark.parametrize("layout", ["index_first", "uncompressed", "default_keys", "checksum"])
def test_other_sharding_options_match_zarr(tmp_path, layout):
    codecs = [BytesCodec(), ZstdCodec(level=5, checksum=True) if layout == "checksum" else compressor()]
    if layout == "uncompressed":
        codecs = [BytesCodec()]
    sharding = {"index_location": "start" if layout == "index_first" else "end"}
    keys = {"name": "default", "separator": "/"} if layout == "default_keys" else FLAT_KEYS

    def make(group):
        if layout == "default_keys":
            return group.create_array("x", shape=(10, 6), dtype=np.int32, chunks=(1, 6), shards=(4, 6),
                                      compressors=compressor(), chunk_key_encoding=keys)
        return group.create_array("x", shape=(10, 6), dtype=np.int32, chunks=(4, 6), compressors=None,
                                  serializer=ShardingCodec(chunk_shape=(1, 6), codecs=codecs, **sharding),
                                  chunk_key_encoding=keys)

    rows = _rows(np.random.default_rng(2), (10, 6), np.int32, 0)
    if layout == "default_keys":
        made, ours, array = _both_ways_nested(tmp_path, make, rows)
    else:
        made, ours, array = _both_ways(tmp_path, make, rows, 4)
    assert ours == made and ours
    np.testing.assert_array_equal(array[...], rows)


def _both_ways_nested(tmp_path, make, rows):
    out = []
    for way in ("zarr", "encoder"):
        array = make(zarr.open_group(str(tmp_path / way), mode="w", zarr_format=3))
        encoder = ShardEncoder.for_array(array)
        assert encoder is not None and encoder.key(2) == "c/2/0"
        for start in range(0, len(rows), 4):
            if way == "zarr":
                array[start:start + 4] = rows[start:start + 4]
            else:
                write_rows(array, start, rows[start:start + 4], encoder)
        base = tmp_path / way / "x"
        out.append(({str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
                     if p.is_file() and p.name != "zarr.json"}, array))
    return out[0][0], out[1][0], out[1][1]


def test_a_shard_of_fill_values_only_has_no_file(tmp_path):
    array = create_sample_array(zarr.open_group(str(tmp_path / "a"), mode="w", zarr_format=3), "x", 8, (2,),
                                np.float32, per_shard=4)
    encoder = ShardEncoder.for_array(array)
    write_rows(array, 0, np.zeros((4, 2), np.float32), encoder)
    write_rows(array, 4, np.ones((4, 2), np.float32), encoder)
    assert [p.name for p in (tmp_path / "a" / "x").iterdir() if p.name != "zarr.json"] == ["1.0"]
    np.testing.assert_array_equal(array[...], [[0, 0]] * 4 + [[1, 1]] * 4)


def test_layouts_it_does_not_write_fall_back_to_zarr(tmp_path):
    group = zarr.open_group(str(tmp_path / "a"), mode="w", zarr_format=3)
    unsharded = group.create_array("u", shape=(4, 2), dtype=np.uint8, chunks=(1, 2))
    split_trailing = group.create_array("s", shape=(4, 4), dtype=np.uint8, chunks=(1, 2), shards=(2, 4))
    gzip = group.create_array("g", shape=(4, 2), dtype=np.uint8, chunks=(1, 2), shards=(2, 2),
                              compressors=GzipCodec())
    memory = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
    in_memory = create_sample_array(memory, "m", 4, (2,), np.uint8, per_shard=2)
    assert ShardEncoder.for_array(unsharded) is None
    assert ShardEncoder.for_array(split_trailing) is None
    assert ShardEncoder.for_array(gzip) is None
    assert ShardEncoder.for_array(in_memory) is None
    write_rows(in_memory, 0, np.ones((2, 2), np.uint8), None)
    np.testing.assert_array_equal(in_memory[:2], np.ones((2, 2)))


def test_rows_that_do_not_fit_a_shard_are_refused(tmp_path):
    array = create_sample_array(zarr.open_group(str(tmp_path / "a"), mode="w", zarr_format=3), "x", 8, (2,),
                                np.uint8, per_shard=4)
    encoder = ShardEncoder.for_array(array)
    with pytest.raises(ValueError, match="cannot encode rows"):
        encoder.encode(np.ones((5, 2), np.uint8))
    with pytest.raises(ValueError, match="cannot encode rows"):
        encoder.encode(np.ones((2, 3), np.uint8))


def test_a_shard_encodes_the_same_from_pieces_as_from_one_array(tmp_path):
    """The writer hands over views of its buffered rows, never a shard-sized copy; chunks may span two pieces."""
    group = zarr.open_group(str(tmp_path / "a"), mode="w", zarr_format=3)
    rows = np.random.default_rng(3).normal(size=(20, 25, 3)).astype(np.float32)
    frames = ShardEncoder.for_array(create_row_array(group, "f", (25, 3), np.float32, rows_per_chunk=8,
                                                     chunks_per_shard=3))
    samples = ShardEncoder.for_array(create_sample_array(group, "s", 20, (25, 3), np.float32, per_shard=24))
    for encoder in (frames, samples):
        whole = encoder.encode(rows)
        assert encoder.encode([rows[:3], rows[3:11], rows[11:12], rows[12:]]) == whole
        assert encoder.encode([rows]) == whole
