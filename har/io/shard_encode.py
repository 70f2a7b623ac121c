"""Whole shards encoded here and written as one file each: the bytes zarr-python would write, at a fraction of
the cost.

Writing a whole shard through zarr-python (`array[a:b] = rows`) costs 2-3 ms per one-sample chunk of Python and
async machinery (it reads the shard back first, splits it into chunk tasks, runs each through an event loop), while
compressing the chunk costs a few hundred microseconds. Our arrays have one layout (`har.io.store`): chunks that
split only axis 0, `bytes` + `zstd` inside a `sharding_indexed` codec whose index is `bytes` (+ `crc32c`). For it a
shard is: the zstd frame of each chunk that holds something other than the fill value, concatenated in chunk order
(the Morton order of a (k, 1, ..., 1) chunk grid is plain row order), then the index of (offset, nbytes) uint64
pairs, 2**64-1 for an omitted chunk, then its crc32c (or the index first, offsets shifted past it). The shard file
is written atomically (a temporary then a rename), as zarr's local store does.

`ShardEncoder.for_array` returns None for anything else (other codecs, chunks that split the trailing axes, a store
that is not a local directory, `write_empty_chunks`); `write_rows` then falls back to zarr-python. The tests compare
the bytes of both paths for every dtype and fill value the stages use, partial final shards and empty chunks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numcodecs.zstd
import numpy as np
import zarr
from numcodecs import CRC32C
from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec, ZstdCodec
from zarr.codecs.sharding import ShardingCodecIndexLocation

MISSING = 2**64 - 1  # offset and nbytes of an omitted chunk (zarr v3 sharding spec)


def _little_endian(codec, itemsize: int = 8) -> bool:
    """Whether `codec` is `bytes` writing little-endian values (single-byte values carry no endianness)."""
    if not isinstance(codec, BytesCodec):
        return False
    return itemsize == 1 if codec.endian is None else codec.endian.value == "little"


def _plain_codecs(sharding: ShardingCodec, itemsize: int) -> bool:
    """Chunks `bytes` (+ `zstd`), index `bytes` (+ `crc32c`): the codecs this module encodes."""
    chunk, index = list(sharding.codecs), list(sharding.index_codecs)
    chunk_ok = 0 < len(chunk) <= 2 and _little_endian(chunk[0], itemsize) \
        and all(isinstance(c, ZstdCodec) for c in chunk[1:])
    index_ok = 0 < len(index) <= 2 and _little_endian(index[0]) and all(isinstance(c, Crc32cCodec) for c in index[1:])
    return chunk_ok and index_ok


@dataclass(frozen=True)
class ShardEncoder:
    """Encodes (shard_rows, *trailing) rows of one array into its shard files under `folder`."""
    folder: Path
    shape: tuple[int, ...]  # the array's shape when the encoder was made; only shape[1:] matters
    dtype: np.dtype  # little-endian on-disk dtype
    chunk_rows: int
    shard_rows: int
    level: int | None  # zstd level, None: no compression
    checksum: bool  # zstd frame checksum
    index_crc: bool
    index_at_end: bool
    fill_value: object
    key_prefix: str
    key_separator: str

    @classmethod
    def for_array(cls, array: zarr.Array) -> ShardEncoder | None:
        """The encoder of `array`'s layout, or None when this module does not write it (see the module doc)."""
        root = getattr(array.store, "root", None)
        codecs = array.metadata.codecs if array.metadata.zarr_format == 3 else ()
        if root is None or len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec) or array.ndim < 1 \
                or array._async_array.config.write_empty_chunks or array.metadata.storage_transformers:
            return None
        sharding, keys = codecs[0], array.metadata.chunk_key_encoding
        inner, outer = tuple(sharding.chunk_shape), tuple(array.shards)
        if inner[1:] != array.shape[1:] or outer[1:] != array.shape[1:] or outer[0] % inner[0] \
                or keys.name not in ("v2", "default") or not _plain_codecs(sharding, array.dtype.itemsize):
            return None
        zstd = sharding.codecs[1] if len(sharding.codecs) == 2 else None
        return cls(folder=Path(root) / array.path, shape=tuple(array.shape),
                   dtype=np.dtype(array.dtype).newbyteorder("<"), chunk_rows=int(inner[0]), shard_rows=int(outer[0]),
                   level=None if zstd is None else zstd.level, checksum=zstd is not None and bool(zstd.checksum),
                   index_crc=len(sharding.index_codecs) == 2,
                   index_at_end=sharding.index_location == ShardingCodecIndexLocation.end,
                   fill_value=array.fill_value, key_prefix="" if keys.name == "v2" else f"c{keys.separator}",
                   key_separator=keys.separator)

    def key(self, shard: int) -> str:
        """The shard's file name (`3.0.0` with flat v2 keys, `c/3/0/0` with the default encoding)."""
        return self.key_prefix + self.key_separator.join(map(str, [shard] + [0] * (len(self.shape) - 1)))

    def is_fill(self, chunk: np.ndarray) -> bool:
        """zarr's test for a chunk it omits: bitwise equal to a zero fill (so -0.0 is kept), else array_equal
        with NaNs equal."""
        fill = np.asarray(self.fill_value, chunk.dtype)
        if fill == 0 and chunk.dtype.kind in "biuf":  # all bits zero (the common case, and fast)
            return not np.any(chunk.view(f"u{chunk.dtype.itemsize}") if chunk.dtype.kind == "f" else chunk)
        return bool(np.array_equal(chunk, np.broadcast_to(fill, chunk.shape), equal_nan=chunk.dtype.kind in "fc"))

    def frame(self, chunk: np.ndarray) -> bytes | None:
        """One chunk's stored bytes (chunk_rows rows, or fewer in the last chunk: padded with the fill value), or
        None for a chunk zarr omits (all fill value)."""
        chunk = np.ascontiguousarray(chunk, self.dtype)
        if chunk.shape[1:] != self.shape[1:] or not 0 < len(chunk) <= self.chunk_rows:
            raise ValueError(f"{self.folder}: cannot encode rows {chunk.shape} as a chunk of {self.chunk_rows} "
                             f"rows of {self.shape[1:]}")
        if len(chunk) < self.chunk_rows:
            pad = np.full((self.chunk_rows - len(chunk), *chunk.shape[1:]), self.fill_value, self.dtype)
            chunk = np.concatenate([chunk, pad])
        if self.is_fill(chunk):
            return None
        return chunk.tobytes() if self.level is None else numcodecs.zstd.compress(chunk, self.level, self.checksum)

    def encode(self, rows: np.ndarray | list[np.ndarray]) -> bytes | None:
        """The shard file holding `rows` (one array, or consecutive pieces of it: its first <= shard_rows rows;
        chunks beyond them are omitted, a final partial chunk is padded with the fill value), or None when every
        chunk is the fill value."""
        pieces = [rows] if isinstance(rows, np.ndarray) else list(rows)
        if not 0 < sum(len(piece) for piece in pieces) <= self.shard_rows:
            raise ValueError(f"{self.folder}: cannot encode rows {[piece.shape for piece in pieces]} into shards "
                             f"of {self.shard_rows} rows of {self.shape[1:]}")
        return self.assemble([self.frame(chunk) for chunk in _chunks(pieces, self.chunk_rows)])

    def assemble(self, frames: list[bytes | None]) -> bytes | None:
        """The shard file of its first len(frames) chunks' bytes (None: omitted), or None when all are omitted."""
        chunks = self.shard_rows // self.chunk_rows
        if len(frames) > chunks:
            raise ValueError(f"{self.folder}: {len(frames)} chunks for a shard of {chunks}")
        index = np.full((chunks, 2), MISSING, np.uint64)
        kept, offset = [], 0
        for number, frame in enumerate(frames):
            if frame is not None:
                index[number] = offset, len(frame)
                kept.append(frame)
                offset += len(frame)
        if not kept:
            return None
        if not self.index_at_end:
            index_size = 16 * chunks + 4 * self.index_crc
            index[index[:, 0] != MISSING, 0] += np.uint64(index_size)
        index_bytes = index.astype("<u8").tobytes()
        if self.index_crc:
            index_bytes = bytes(CRC32C(location="end").encode(index_bytes))
        return b"".join(kept + [index_bytes] if self.index_at_end else [index_bytes] + kept)

    def write(self, shard: int, rows: np.ndarray | list[np.ndarray]) -> None:
        """Write shard number `shard` from `rows` (atomically); a shard of fill values only has no file."""
        self.write_file(shard, self.encode(rows))

    def write_file(self, shard: int, data: bytes | None) -> None:
        """Store a shard file's bytes atomically (None: no file, as zarr leaves none for a shard of fill values)."""
        path = self.folder / self.key(shard)
        if data is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _chunks(pieces: list[np.ndarray], size: int):
    """Consecutive `size`-row chunks of the rows of `pieces` (the last one may be shorter); views where a chunk
    lies within one piece, a small copy where it spans two."""
    carry, have = [], 0
    for piece in pieces:
        at = 0
        while at < len(piece):
            take = min(size - have, len(piece) - at)
            carry.append(piece[at:at + take])
            have, at = have + take, at + take
            if have == size:
                yield carry[0] if len(carry) == 1 else np.concatenate(carry)
                carry, have = [], 0
    if carry:
        yield carry[0] if len(carry) == 1 else np.concatenate(carry)


def write_rows(array: zarr.Array, start: int, rows: np.ndarray | list[np.ndarray],
               encoder: ShardEncoder | None = None) -> None:
    """array[start:start + n] = rows for n rows (one array, or consecutive pieces) that fill one shard from its
    first row (or the array's last shard in part): encoded here when the layout allows, through zarr-python
    otherwise. Same bytes either way."""
    pieces = [rows] if isinstance(rows, np.ndarray) else list(rows)
    count = sum(len(piece) for piece in pieces)
    if encoder is not None and start % encoder.shard_rows == 0 and count <= encoder.shard_rows \
            and start + count <= array.shape[0]:
        encoder.write(start // encoder.shard_rows, pieces)
    else:
        array[start:start + count] = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
