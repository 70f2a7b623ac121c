"""Zarr v3 storage policy shared by every artifact (DESIGN.md §2).

- One chunk per sample along N, chunks grouped into shards of a bounded raw size, zstd compressed.
- Flat chunk keys (`0.0.0`, v2-style) so a store has few directories: DVC hashes and checks out faster.
- Stores are built under `<out>.tmp-<pid>` and renamed into place, so an interrupted stage leaves nothing that
  DVC could mistake for an output.
- Every artifact carries aligned per-sample metadata and the benchmark splits as index arrays.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec
from zarr.errors import UnstableSpecificationWarning

from har.errors import MissingArtifactError, WrongArtifactError

FORMAT_VERSION = 1
FLAT_KEYS = {"name": "v2", "separator": "."}
SHARD_TARGET_BYTES = 64 * 2**20  # raw bytes per shard: a shard is decoded in memory when written
META_FIELDS = ("sample", "label", "setup", "camera", "subject", "replication")

warnings.filterwarnings("ignore", category=UnstableSpecificationWarning)


def compressor(level: int = 3) -> ZstdCodec:
    return ZstdCodec(level=level)


# --- atomic outputs --------------------------------------------------------------------------------------
def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


def _replace(tmp: Path, path: Path) -> None:
    """Move tmp to path, replacing a file or directory that is there."""
    if path.is_dir() and not path.is_symlink():
        old = path.with_name(f"{path.name}.old-{os.getpid()}")
        path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_store(path: str | Path) -> Iterator[zarr.Group]:
    """Open a fresh zarr v3 group at `<path>.tmp-<pid>`; on success rename it to `path`, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    _remove(tmp)
    group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
    try:
        yield group
    except BaseException:
        _remove(tmp)
        raise
    _replace(tmp, path)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A fresh directory at `<path>.tmp-<pid>` that replaces `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    _remove(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    _replace(tmp, path)


@contextmanager
def atomic_file(path: str | Path, mode: str = "w", **kwargs) -> Iterator:
    """Open `<path>.tmp-<pid>` for writing; it replaces `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
    except BaseException:
        _remove(tmp)
        raise
    os.replace(tmp, path)


def write_json(path: str | Path, data) -> None:
    """Atomically write stable, sorted, indented JSON (byte-identical for equal data)."""
    with atomic_file(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")


# --- arrays ------------------------------------------------------------------------------------------------
def samples_per_shard(sample_nbytes: int, target_bytes: int = SHARD_TARGET_BYTES) -> int:
    """How many one-sample chunks fit in a shard of about target_bytes raw."""
    return int(max(1, min(4096, target_bytes // max(1, sample_nbytes))))


def create_sample_array(group: zarr.Group, name: str, num_samples: int, sample_shape: tuple[int, ...],
                        dtype, *, per_shard: int | None = None, fill_value=0) -> zarr.Array:
    """(N, *sample_shape) array with one chunk per sample, sharded, zstd, flat keys."""
    sample_shape = tuple(int(s) for s in sample_shape)
    nbytes = int(np.prod(sample_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    per_shard = per_shard or samples_per_shard(nbytes)
    per_shard = max(1, min(per_shard, max(1, num_samples)))
    return group.create_array(
        name, shape=(num_samples, *sample_shape), dtype=dtype, chunks=(1, *sample_shape),
        shards=(per_shard, *sample_shape) if per_shard > 1 else None,
        compressors=compressor(), fill_value=fill_value, chunk_key_encoding=FLAT_KEYS,
    )


def create_row_array(group: zarr.Group, name: str, row_shape: tuple[int, ...], dtype, *,
                     rows_per_chunk: int = 4096, chunks_per_shard: int = 32, fill_value=0) -> zarr.Array:
    """An empty, appendable (0, *row_shape) array for ragged data (frames of all tracks), sharded."""
    row_shape = tuple(int(s) for s in row_shape)
    return group.create_array(
        name, shape=(0, *row_shape), dtype=dtype, chunks=(rows_per_chunk, *row_shape),
        shards=(rows_per_chunk * chunks_per_shard, *row_shape), compressors=compressor(),
        fill_value=fill_value, chunk_key_encoding=FLAT_KEYS,
    )


def write_array(group: zarr.Group, name: str, data: np.ndarray) -> zarr.Array:
    """A small whole array (metadata, indices) as one chunk, zstd, flat keys. Strings are stored as UTF-8."""
    data = np.asarray(data)
    if data.dtype.kind in "US":
        data = data.astype(object)
        dtype = str
    else:
        dtype = data.dtype
    array = group.create_array(
        name, shape=data.shape, dtype=dtype, chunks=tuple(max(1, s) for s in data.shape) or None,
        compressors=compressor() if dtype is not str else None, chunk_key_encoding=FLAT_KEYS,
    )
    if data.size:
        array[...] = data
    return array


def read_strings(array: zarr.Array) -> np.ndarray:
    """A string array as a numpy unicode array."""
    return np.asarray(array[...]).astype(object).astype(str)


# --- metadata and splits ---------------------------------------------------------------------------------
def write_meta(group: zarr.Group, meta: Mapping[str, np.ndarray]) -> None:
    """Per-sample metadata arrays (sample, label, setup, camera, subject, replication), aligned along N."""
    lengths = {len(meta[f]) for f in META_FIELDS}
    if len(lengths) != 1:
        raise ValueError(f"metadata arrays have different lengths: { {f: len(meta[f]) for f in META_FIELDS} }")
    write_array(group, "sample", np.asarray(meta["sample"]).astype(str))
    for field in META_FIELDS[1:]:
        write_array(group, field, np.asarray(meta[field], dtype=np.int32))


def read_meta(group: zarr.Group) -> dict[str, np.ndarray]:
    """The aligned per-sample metadata of an artifact."""
    meta = {"sample": read_strings(group["sample"])}
    for field in META_FIELDS[1:]:
        meta[field] = np.asarray(group[field][...])
    return meta


def write_splits(group: zarr.Group, splits: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Benchmark splits as index arrays under `splits/<benchmark>_<part>` (e.g. splits/xsub_train)."""
    sub = group.require_group("splits")
    for benchmark, parts in splits.items():
        for part, index in parts.items():
            write_array(sub, f"{benchmark}_{part}", np.asarray(index, dtype=np.int64))
    sub.attrs["benchmarks"] = sorted(splits)


def read_splits(group: zarr.Group) -> dict[str, dict[str, np.ndarray]]:
    sub = group["splits"]
    out: dict[str, dict[str, np.ndarray]] = {}
    for benchmark in sub.attrs["benchmarks"]:
        out[benchmark] = {part: np.asarray(sub[f"{benchmark}_{part}"][...]) for part in ("train", "test")}
    return out


def stamp(group: zarr.Group, *, artifact: str, params: Mapping | None = None, **attrs) -> None:
    """Group attrs every artifact carries: what it is, the format version and the producing params."""
    group.attrs.update({"artifact": artifact, "format_version": FORMAT_VERSION,
                        "params": dict(params or {}), **attrs})


def open_store(path: str | Path, artifact: str | None = None) -> zarr.Group:
    """Open an artifact read-only, with a clear error when it is missing or of another kind."""
    path = Path(path)
    if not (path / "zarr.json").exists():
        raise MissingArtifactError(f"{path}: no zarr store here (run the stage that builds it first, or `dvc pull` "
                                   f"it)")
    group = zarr.open_group(str(path), mode="r")
    if artifact is not None and group.attrs.get("artifact") != artifact:
        raise WrongArtifactError(f"{path}: expected a {artifact!r} artifact, found {group.attrs.get('artifact')!r}")
    return group
