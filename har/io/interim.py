"""The ingest artifact `skeletons.zarr`: every body track of every sample, lossless and ragged.

Layout (one zarr v3 group):
- per sample (N): `sample` (str), `label`, `setup`, `camera`, `subject`, `replication`, `num_frames` (frames in the
  source file), `track_start` (first track), `num_tracks`; optional `img_shape` (N, 2) for 2D pose sources.
- per track (K): `body_id` (str; Kinect IDs exceed 2**53), `track_sample` (owning sample), `row_start`,
  `num_rows` (rows in the frame arrays).
- per body-frame row (R): `frame` (index in the source file's frames) and the joint arrays the source has:
  NTU `.skeleton`: `xyz` (R,V,3), `depth_xy` (R,V,2), `color_xy` (R,V,2), `orientation` (R,V,4) f32,
  `tracking` (R,V) i1, `body_info` (R,7) i4, `lean` (R,2) f4; PYSKL 3D: `xyz`; PYSKL 2D: `color_xy`, `score` (R,V).
- `splits/<benchmark>_<train|test>` index arrays; attrs: source_format, layout, variant, num_joints.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import zarr

from har.io.store import create_row_array, read_meta, read_strings
from har.transforms.denoise import Track

ROW_FIELDS = {  # name -> (shape after the row axis given V joints, dtype)
    "xyz": (lambda v: (v, 3), np.float32), "depth_xy": (lambda v: (v, 2), np.float32),
    "color_xy": (lambda v: (v, 2), np.float32), "orientation": (lambda v: (v, 4), np.float32),
    "tracking": (lambda v: (v,), np.int8), "body_info": (lambda v: (7,), np.int32),
    "lean": (lambda v: (2,), np.float32), "score": (lambda v: (v,), np.float32),
}
ARTIFACT = "skeletons"


@dataclass
class SampleTracks:
    """One sample's tracks as packed rows: what a reader worker sends back to the writer.

    rows: field -> (R, ...) arrays over all tracks' frames, track after track; frame: (R,) int32;
    body_ids: one str per track; track_rows: rows per track.
    """
    name: str
    num_frames: int
    frame: np.ndarray
    rows: dict[str, np.ndarray]
    body_ids: list[str]
    track_rows: list[int]
    img_shape: tuple[int, int] | None = None


class InterimWriter:
    """The frame-row arrays of skeletons.zarr, fed through a har.io.shards.ShardSink (whole shards only, see
    `split`); the per-sample and per-track arrays are small and written at close() from the settled records."""

    def __init__(self, group: zarr.Group, fields: Sequence[str], num_joints: int, shard_rows: int = 32768,
                 create: bool = True):
        self.group, self.fields = group, tuple(fields)
        if create:
            chunk_rows = min(4096, shard_rows)
            for name in self.fields:
                create_row_array(group, name, ROW_FIELDS[name][0](num_joints), ROW_FIELDS[name][1],
                                 rows_per_chunk=chunk_rows, chunks_per_shard=shard_rows // chunk_rows)
            create_row_array(group, "frame", (), np.int32, rows_per_chunk=chunk_rows,
                             chunks_per_shard=shard_rows // chunk_rows)
        self.arrays = {name: group[name] for name in (*self.fields, "frame")}

    def split(self, sample: SampleTracks) -> tuple[dict[str, np.ndarray], SampleTracks]:
        """A sample's rows per array, and the sample without them (the small facts close() writes)."""
        rows = {name: sample.rows[name] for name in self.fields}
        rows["frame"] = sample.frame
        return rows, dataclasses.replace(sample, rows={}, frame=np.empty(0, np.int32))

    def close(self, samples: Iterable[SampleTracks], meta: dict[str, np.ndarray]) -> None:
        """Write metadata and the per-sample / per-track arrays of the kept samples, in store order (samples:
        re-iterable, har.io.shards.Records, read once per array)."""
        from har.io.store import write_array, write_meta
        write_meta(self.group, meta)
        tracks_per_sample = np.array([len(s.body_ids) for s in samples], np.int64)
        track_rows = np.array([r for s in samples for r in s.track_rows], np.int64)
        write_array(self.group, "num_frames", np.array([s.num_frames for s in samples], np.int32))
        write_array(self.group, "num_tracks", tracks_per_sample.astype(np.int32))
        write_array(self.group, "track_start", np.concatenate([[0], np.cumsum(tracks_per_sample)])[:-1])
        write_array(self.group, "body_id", np.array([b for s in samples for b in s.body_ids], dtype=str))
        write_array(self.group, "track_sample", np.repeat(np.arange(len(samples)), tracks_per_sample))
        write_array(self.group, "row_start", np.concatenate([[0], np.cumsum(track_rows)])[:-1].astype(np.int64))
        write_array(self.group, "num_rows", track_rows.astype(np.int32))
        first = next(iter(samples), None)
        if first is not None and first.img_shape is not None:
            write_array(self.group, "img_shape", np.array([s.img_shape for s in samples], np.int32))


class InterimReader:
    """Reads tracks of samples from a skeletons.zarr, a contiguous block of samples at a time."""

    def __init__(self, group: zarr.Group):
        self.group = group
        self.meta = read_meta(group)
        self.num_frames = np.asarray(group["num_frames"][...])
        self.track_start = np.asarray(group["track_start"][...])
        self.num_tracks = np.asarray(group["num_tracks"][...])
        self.row_start = np.asarray(group["row_start"][...])
        self.num_rows = np.asarray(group["num_rows"][...])
        self.fields = [name for name in ROW_FIELDS if name in group]
        self.img_shape = np.asarray(group["img_shape"][...]) if "img_shape" in group else None

    @cached_property
    def body_id(self) -> np.ndarray:
        """(K,) str Kinect body ID of every track (read on first use: only the PYSKL export needs them)."""
        return read_strings(self.group["body_id"])

    def __len__(self) -> int:
        return len(self.meta["sample"])

    def _row_span(self, first: int, last: int) -> tuple[int, int]:
        tracks = slice(self.track_start[first], self.track_start[last] + self.num_tracks[last])
        starts, counts = self.row_start[tracks], self.num_rows[tracks]
        return (int(starts.min()), int((starts + counts).max())) if len(starts) else (0, 0)

    def iter_blocks(self, block_size: int, fields: Sequence[str] | None = None,
                    start: int = 0) -> Iterator[list[dict]]:
        """Yield lists of per-sample dicts {index, sample, num_frames, tracks: [Track]} in store order, from
        sample `start` on."""
        fields = list(self.fields if fields is None else fields)
        missing = [f for f in fields if f not in self.fields]
        if missing:
            raise KeyError(f"skeletons.zarr has no {missing} arrays (source format "
                           f"{self.group.attrs.get('source_format')!r})")
        for first in range(start, len(self), block_size):
            last = min(first + block_size, len(self)) - 1
            low, high = self._row_span(first, last)
            data = {name: np.asarray(self.group[name][low:high]) for name in ["frame", *fields]}
            yield [self._sample(i, data, low, fields) for i in range(first, last + 1)]

    def _sample(self, index: int, data: dict, offset: int, fields: Sequence[str]) -> dict:
        tracks = range(self.track_start[index], self.track_start[index] + self.num_tracks[index])
        spans = [(self.row_start[k] - offset, self.num_rows[k]) for k in tracks]
        return {"index": index, "sample": self.meta["sample"][index], "label": int(self.meta["label"][index]),
                "num_frames": int(self.num_frames[index]), "tracks": _tracks(data, spans, fields),
                "img_shape": None if self.img_shape is None else tuple(self.img_shape[index])}


def _tracks(data: dict, spans: Sequence[tuple[int, int]], fields: Sequence[str]) -> list[Track]:
    """Tracks of (first row, row count) spans of row arrays `data` ('frame' and the `fields`)."""
    tracks = []
    for start, count in spans:
        rows = slice(start, start + count)
        coords = data["xyz"][rows] if "xyz" in data else data["color_xy"][rows]
        extra = {name: data[name][rows] for name in fields if name != "xyz"}
        tracks.append(Track(frames=data["frame"][rows], xyz=coords, extra=extra))
    return tracks


def sample_item(sample: SampleTracks, fields: Sequence[str]) -> dict:
    """One ingested sample (what the ingest stage's workers produce) as the dict InterimReader.iter_blocks would
    yield for it once written, without a store: the same tracks, fields and dtypes ('index' 0, 'label' None).
    Lets the stages' per-sample functions run on one file (`har-prep predict`)."""
    missing = [f for f in fields if f not in sample.rows]
    if missing:
        raise KeyError(f"{sample.name}: no {missing} rows (this source has {sorted(sample.rows)})")
    data = {"frame": np.asarray(sample.frame, np.int32),
            **{name: np.asarray(sample.rows[name], ROW_FIELDS[name][1]) for name in fields}}
    starts = np.concatenate([[0], np.cumsum(sample.track_rows)])[:-1]
    return {"index": 0, "sample": sample.name, "label": None, "num_frames": int(sample.num_frames),
            "tracks": _tracks(data, list(zip(starts.tolist(), sample.track_rows)), fields),
            "img_shape": sample.img_shape}
