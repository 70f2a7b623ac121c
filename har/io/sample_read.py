"""One-sample reads of the feature stores' (N, ...) arrays straight from their shard files.

A training loader reads one sample per step in a random order. Through zarr-python each such read costs about a
millisecond of Python and async machinery whatever its size; the data itself is one zstd frame in a shard file. The
layout every builder writes (`har.io.store.create_sample_array`: one chunk per sample, chunks grouped into shards
with a crc32c-checked index, `bytes` + `zstd` codecs) is simple enough to read directly: look the chunk up in the
shard index (read once per shard and process), `pread` its bytes and decompress them into the output array. The
values are those zarr-python returns, bit for bit, including the fill value of chunks that were never written.

Nothing here starts a thread, so readers work in forked DataLoader workers whatever the parent did before the fork
(tensorstore, for comparison, aborts a forked child once the parent has used it). Arrays of any other layout (other
codecs, several samples per chunk, a store that is not a local directory) are read through zarr-python instead.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numcodecs.zstd
import numpy as np
import zarr
from numcodecs import CRC32C

MISSING = np.uint64(2**64 - 1)  # offset and size of a chunk that was never written (zarr v3 sharding spec)
OPEN_FILES = 16  # shard files a reader keeps open (least recently used closed first)


@dataclass(frozen=True)
class SampleLayout:
    """Where sample rows of one array live on disk: `rows_per_file` one-sample chunks per file (a shard, or a single
    chunk when unsharded); `dtype` is the on-disk dtype with its byte order."""
    sample_shape: tuple[int, ...]
    dtype: np.dtype
    rows_per_file: int
    sharded: bool
    compressed: bool
    index_checksum: bool
    index_at_end: bool
    key_prefix: str
    key_separator: str


def _codec_names(codecs: list) -> list[str]:
    return [c["name"] if isinstance(c, dict) else c for c in codecs]


def _endian(codec) -> str:
    config = (codec.get("configuration") or {}) if isinstance(codec, dict) else {}
    return {"little": "<", "big": ">"}[config.get("endian", "little")]


def parse_layout(meta: dict) -> SampleLayout | str:
    """The SampleLayout of a zarr v3 array's metadata (zarr.json), or why it is not one this module reads."""
    if meta.get("zarr_format") != 3 or meta.get("node_type") != "array":
        return "not a zarr v3 array"
    shape, grid = meta["shape"], meta["chunk_grid"]
    if grid.get("name") != "regular" or len(shape) < 2 or meta.get("storage_transformers"):
        return "not a regular grid of sample rows"
    outer = list(grid["configuration"]["chunk_shape"])
    codecs = meta["codecs"]
    sharded = _codec_names(codecs) == ["sharding_indexed"]
    inner, index_codecs, index_at_end = outer, [], True
    if sharded:
        config = codecs[0]["configuration"]
        inner, codecs, index_codecs = list(config["chunk_shape"]), config["codecs"], config["index_codecs"]
        index_at_end = config.get("index_location", "end") == "end"
        if _codec_names(index_codecs) not in (["bytes"], ["bytes", "crc32c"]) or _endian(index_codecs[0]) != "<":
            return f"shard index codecs {_codec_names(index_codecs)}"
    if inner[0] != 1 or inner[1:] != shape[1:] or outer[1:] != shape[1:]:
        return f"chunks {inner} are not one sample of {shape}"
    names = _codec_names(codecs)
    if names not in (["bytes"], ["bytes", "zstd"]):
        return f"codecs {names}"
    try:
        dtype = np.dtype(meta["data_type"]).newbyteorder(_endian(codecs[0]))
    except TypeError:
        return f"data type {meta['data_type']!r}"
    if dtype.kind not in "biuf":
        return f"data type {meta['data_type']!r}"
    keys = meta["chunk_key_encoding"]
    encoding, separator = keys["name"], (keys.get("configuration") or {}).get("separator")
    if encoding not in ("v2", "default"):
        return f"chunk key encoding {encoding!r}"
    separator = separator or ("." if encoding == "v2" else "/")
    return SampleLayout(sample_shape=tuple(shape[1:]), dtype=dtype, rows_per_file=int(outer[0]), sharded=sharded,
                        compressed=names[-1] == "zstd", index_checksum=_codec_names(index_codecs)[-1:] == ["crc32c"],
                        index_at_end=index_at_end, key_prefix="" if encoding == "v2" else f"c{separator}",
                        key_separator=separator)


class ShardSampleReader:
    """Reads row i of an (N, *sample_shape) array laid out as `layout` under directory `root`: reader(i) -> array.

    Shard indices are cached per process (16 bytes per sample); at most OPEN_FILES shard files stay open.
    """

    def __init__(self, root: str | Path, layout: SampleLayout, num_rows: int, fill_value):
        self.root, self.layout, self.num_rows = Path(root), layout, int(num_rows)
        self.native = layout.dtype.newbyteorder("=")
        self.fill_value = fill_value
        self.nbytes = int(np.prod(layout.sample_shape, dtype=np.int64)) * layout.dtype.itemsize
        self._indices: dict[int, np.ndarray] = {}
        self._files: OrderedDict[int, int] = OrderedDict()

    def __getstate__(self) -> dict:  # file descriptors and caches stay in the process that opened them
        return {**self.__dict__, "_indices": {}, "_files": OrderedDict()}

    def __del__(self):
        self.close()

    def close(self) -> None:
        files = getattr(self, "_files", None)  # absent when __init__ failed
        while files:
            os.close(files.popitem()[1])

    def file_of(self, shard: int) -> Path:
        zeros = [0] * len(self.layout.sample_shape)
        return self.root / (self.layout.key_prefix + self.layout.key_separator.join(map(str, [shard, *zeros])))

    def _fd(self, shard: int) -> int | None:
        if shard in self._files:
            self._files.move_to_end(shard)
            return self._files[shard]
        try:
            fd = os.open(self.file_of(shard), os.O_RDONLY)
        except FileNotFoundError:
            return None  # a shard that was never written: every row holds the fill value
        self._files[shard] = fd
        if len(self._files) > OPEN_FILES:
            os.close(self._files.popitem(last=False)[1])
        return fd

    def _pread(self, fd: int, size: int, offset: int, shard: int) -> bytes:
        data = os.pread(fd, size, offset)
        if len(data) != size:
            raise ValueError(f"{self.file_of(shard)}: truncated ({size} bytes expected at offset {offset}, "
                             f"{len(data)} read); rebuild the store or `dvc pull` it again")
        return data

    def _index(self, shard: int, fd: int) -> np.ndarray:
        """(rows_per_file, 2) uint64 offset and size of each chunk of a shard."""
        if shard not in self._indices:
            size = 16 * self.layout.rows_per_file + 4 * self.layout.index_checksum
            length = os.fstat(fd).st_size
            if length < size:
                raise ValueError(f"{self.file_of(shard)}: {length} bytes, shorter than its {size}-byte index")
            raw = self._pread(fd, size, length - size if self.layout.index_at_end else 0, shard)
            if self.layout.index_checksum:
                try:
                    raw = CRC32C(location="end").decode(raw)
                except RuntimeError as error:
                    raise ValueError(f"{self.file_of(shard)}: corrupt shard index ({error})") from None
            self._indices[shard] = np.frombuffer(raw, "<u8").reshape(-1, 2)
        return self._indices[shard]

    def __call__(self, row: int) -> np.ndarray:
        if not 0 <= row < self.num_rows:
            raise IndexError(f"{self.root}: row {row} outside 0..{self.num_rows - 1}")
        shard, k = divmod(int(row), self.layout.rows_per_file)
        fd = self._fd(shard)
        if fd is None:
            return np.full(self.layout.sample_shape, self.fill_value, self.native)
        if self.layout.sharded:
            offset, size = self._index(shard, fd)[k]
            if offset == MISSING and size == MISSING:
                return np.full(self.layout.sample_shape, self.fill_value, self.native)
        else:
            offset, size = 0, os.fstat(fd).st_size
        raw = self._pread(fd, int(size), int(offset), shard)
        out = np.empty(self.layout.sample_shape, self.layout.dtype)
        if self.layout.compressed:
            try:
                numcodecs.zstd.decompress(raw, out)
            except RuntimeError as error:
                raise ValueError(f"{self.file_of(shard)}: chunk {k} does not decode to {self.nbytes} bytes "
                                 f"({error})") from None
        elif len(raw) == self.nbytes:
            out.reshape(-1).view(np.uint8)[:] = np.frombuffer(raw, np.uint8)
        else:
            raise ValueError(f"{self.file_of(shard)}: chunk {k} holds {len(raw)} bytes, expected {self.nbytes}")
        return out if out.dtype == self.native else out.astype(self.native)


class ZarrSampleReader:
    """Row i of any zarr array through zarr-python (the fallback for layouts ShardSampleReader does not read)."""

    def __init__(self, array: zarr.Array):
        self.array = array

    def __call__(self, row: int) -> np.ndarray:
        return np.asarray(self.array[int(row)])


def sample_reader(array: zarr.Array) -> Callable[[int], np.ndarray]:
    """The fastest reader of array's sample rows: direct shard reads for the builders' layout on a local store,
    zarr-python otherwise. Both return what `np.asarray(array[i])` returns."""
    root = getattr(array.store, "root", None)
    if root is None or array.ndim < 2:
        return ZarrSampleReader(array)
    folder = Path(root) / array.path
    try:
        meta = json.loads((folder / "zarr.json").read_text())
    except (OSError, ValueError):
        return ZarrSampleReader(array)
    layout = parse_layout(meta)
    if isinstance(layout, str) or tuple(meta["shape"]) != array.shape:
        return ZarrSampleReader(array)
    return ShardSampleReader(folder, layout, array.shape[0], array.fill_value)

