"""Ingest of a PYSKL pickle (`ntu60_3danno.pkl`-style 3D or `ntu60_hrnet.pkl`-style 2D) into skeletons.zarr.

A pickle is one Python object, so it is loaded whole (PYSKL's format leaves no choice); everything after the load
streams sample by sample into the same ragged layout as raw NTU files: each person slot becomes a track over the
frames where it has a joint, `xyz` for 3D pickles, `color_xy` + `score` for 2D ones. The pickle's own splits are
kept (its `*_val` halves are our `test`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from har.builders.ingest import IngestError, IngestOptions, _finish, write_quarantine
from har.io.interim import InterimWriter, SampleTracks
from har.io.names import SampleNameError, missing_skeletons, parse_sample_name
from har.io.pyskl import PysklSample, read_pyskl
from har.io.shards import Kept, Quarantined, ShardSink
from har.io.work import WorkArea
from har.layout import dataset_variant, layout_for_joints


def pyskl_tracks(sample: PysklSample) -> Kept[SampleTracks] | Quarantined:
    """Person slots -> tracks (frames where the person has a joint); a reason when the sample has none."""
    keypoint = sample.keypoint
    present = np.any(keypoint != 0, axis=-1)
    if sample.score is not None:
        present &= sample.score > 0
    rows: dict[str, list] = {"xyz": [], "color_xy": [], "score": []}
    frames, body_ids, track_rows = [], [], []
    for person in range(keypoint.shape[0]):
        index = np.flatnonzero(present[person].any(axis=-1))
        if len(index) == 0:
            continue
        frames.append(index.astype(np.int32))
        body_ids.append(str(person))
        track_rows.append(len(index))
        if sample.score is None:
            rows["xyz"].append(keypoint[person, index].astype(np.float32))
        else:
            rows["color_xy"].append(keypoint[person, index].astype(np.float32))
            rows["score"].append(sample.score[person, index].astype(np.float32))
    if not frames:
        return Quarantined(f"{sample.name}: no person has a joint in any of its {sample.num_frames} frames")
    return Kept(SampleTracks(name=sample.name, num_frames=sample.num_frames, frame=np.concatenate(frames),
                             rows={k: np.concatenate(v) for k, v in rows.items() if v}, body_ids=body_ids,
                             track_rows=track_rows, img_shape=sample.img_shape))


def _check_name(sample: PysklSample) -> str | None:
    try:
        name = parse_sample_name(sample.name)
    except SampleNameError as error:
        return str(error)
    if name.label != sample.label:
        return f"{sample.name}: label {sample.label} disagrees with its action A{name.action:03d}"
    return None


def ingest_pyskl(pickle_path: Path, out: Path, quarantine_csv: Path, options: IngestOptions = IngestOptions(),
                 params: dict | None = None) -> dict:
    dataset = read_pyskl(pickle_path)
    fields = ("xyz",) if dataset.dims == 3 else ("color_xy", "score")
    layout = layout_for_joints(dataset.num_joints)
    names = [s.name for s in dataset.samples if _check_name(s) is None]
    variant = dataset_variant([parse_sample_name(n).setup for n in names],
                              [parse_sample_name(n).action for n in names]) if names else "ntu60"
    missing = missing_skeletons(variant) if options.use_missing_list else frozenset()
    with WorkArea("ingest", [out], None, "") as area:
        group = area.group(out)
        writer = InterimWriter(group, fields, dataset.num_joints)
        sink = ShardSink(writer.arrays, writer.split)
        for row, sample in enumerate(dataset.samples):
            reason = _check_name(sample) or (f"{sample.name}: on the official {variant} missing-skeleton list"
                                             if sample.name in missing else None)
            outcome = pyskl_tracks(sample) if reason is None else Quarantined(reason)
            if options.fail_fast and isinstance(outcome, Quarantined):
                raise IngestError(f"{pickle_path}: {outcome.reason}")
            sink.settle(row, sample.name, outcome)
        kept, quarantine = sink.finish()
        position = {entry.index: k for k, entry in enumerate(kept)}
        splits = {bench: {part: np.array([position[i] for i in idx if int(i) in position], np.int64)
                          for part, idx in parts.items()} for bench, parts in dataset.splits.items()}
        summary = _finish(group, writer, kept.records(), f"pyskl-{dataset.dims}d", layout,
                          params, pickle_path, splits=splits or None)
    write_quarantine(quarantine_csv, quarantine)
    summary["quarantined"] = len(quarantine)
    return summary
