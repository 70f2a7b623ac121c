"""Export of skeletons.zarr to the PYSKL / mmaction2 annotation pickle (DESIGN.md §4).

`dict(split={name: [frame_dir, ...]}, annotations=[...])`, annotations sorted by frame_dir, per sample
`frame_dir`, `label` (0-based), `total_frames`, `keypoint` (M, T, V, C); 2D adds `keypoint_score` (M, T, V),
`img_shape` and `original_shape` (height, width). Split lists are the store's, named as the toolkits name them
(`xsub_train`, `xsub_val`, `xview_*` for NTU60, `xset_*` for NTU120).

Raw Kinect tracks go through PYSKL's own selection (`har.transforms.pyskl_ntu`), so `keypoint` equals what
`ntu_preproc.py` makes of the same `.skeleton` files; 2D takes the colour-frame coordinates of the same tracks, laid
out the same way, with trackingState -> score 2 (tracked) 1.0, 1 (inferred) 0.5, 0 (not tracked) 0.0. A store
ingested from a PYSKL pickle is already laid out: its person slots are written back at their frames.
Samples PYSKL has no output for are listed in a quarantine CSV instead.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from har.builders.ingest import write_quarantine
from har.errors import HarError
from har.io.interim import ARTIFACT, InterimReader
from har.io.store import atomic_file, open_store, read_splits
from har.transforms.pyskl_ntu import PysklRuleError, lay_out, pyskl_layout

PICKLE_PROTOCOL = 4  # fixed: the bytes depend on it (readable by every Python 3 PYSKL / mmaction2 runs on)
NTU_IMG_SHAPE = (1080, 1920)  # Kinect v2 colour frame (height, width)
TRACKING_SCORE = np.array([0.0, 0.5, 1.0], np.float32)  # trackingState 0 / 1 / 2 -> keypoint_score
BLOCK = 64  # samples read at a time


@dataclass(frozen=True)
class ExportOptions:
    """dims: 3 (xyz, metres) or 2 (colour-frame pixels); dtype: of keypoint and keypoint_score (PYSKL's 3D
    pickles use float16); img_shape: (height, width) the 2D coordinates refer to, for raw NTU sources."""
    dims: int = 3
    dtype: str = "float16"
    img_shape: tuple[int, int] = NTU_IMG_SHAPE


class ExportError(HarError, ValueError):
    """The store cannot be exported as asked; the message names the store and what is missing."""


def tracking_score(tracking: np.ndarray, where: str) -> np.ndarray:
    """(F, V) int trackingState -> (F, V) float32 score (module docstring)."""
    if tracking.size and (tracking.min() < 0 or tracking.max() > 2):
        raise ExportError(f"{where}: trackingState outside 0..2 ({tracking.min()}..{tracking.max()})")
    return TRACKING_SCORE[tracking.astype(np.int64)]


def _raw_annotation(sample: dict, options: ExportOptions) -> dict:
    """keypoint (and 2D keypoint_score) of raw Kinect tracks under PYSKL's rules; PysklRuleError when none."""
    tracks = sample["tracks"]
    layout = pyskl_layout(tracks)
    if options.dims == 3:
        return {"keypoint": lay_out(layout, [t.xyz for t in tracks])}
    where = sample["sample"]
    return {"keypoint": lay_out(layout, [t.extra["color_xy"] for t in tracks]),
            "keypoint_score": lay_out(layout, [tracking_score(t.extra["tracking"], where) for t in tracks])}


def _pyskl_annotation(sample: dict, options: ExportOptions) -> dict:
    """A store ingested from a PYSKL pickle: person slot k (body_id 'k') back at its frames."""
    tracks, slots = sample["tracks"], [int(b) for b in sample["body_ids"]]
    shape = (max(slots) + 1, sample["num_frames"])
    keypoint = np.zeros((*shape, *tracks[0].xyz.shape[1:]), np.float32)
    score = np.zeros(shape + tracks[0].xyz.shape[1:2], np.float32)
    for slot, track in zip(slots, tracks):
        keypoint[slot, track.frames] = track.xyz
        if "score" in track.extra:
            score[slot, track.frames] = track.extra["score"]
    return {"keypoint": keypoint} if options.dims == 3 else {"keypoint": keypoint, "keypoint_score": score}


def _fields(group, source_format: str, options: ExportOptions, store: Path) -> list[str]:
    need = {("ntu-skeleton", 3): ["xyz"], ("ntu-skeleton", 2): ["xyz", "color_xy", "tracking"],
            ("pyskl-3d", 3): ["xyz"], ("pyskl-2d", 2): ["color_xy", "score"]}.get((source_format, options.dims))
    if need is None or any(name not in group for name in need):
        raise ExportError(f"{store}: a {source_format!r} store has no {options.dims}D keypoints to export")
    return need


def _annotation(sample: dict, reader: InterimReader, source_format: str, options: ExportOptions) -> dict:
    index = sample["index"]
    first = reader.track_start[index]
    sample["body_ids"] = reader.body_id[first:first + reader.num_tracks[index]]
    arrays = (_raw_annotation if source_format == "ntu-skeleton" else _pyskl_annotation)(sample, options)
    keypoint = arrays["keypoint"]
    annotation = {"frame_dir": str(sample["sample"]), "label": int(sample["label"]),
                  "total_frames": int(keypoint.shape[1])}
    annotation.update({k: np.ascontiguousarray(v, dtype=options.dtype) for k, v in arrays.items()})
    if options.dims == 2:
        shape = sample["img_shape"] if sample["img_shape"] is not None else options.img_shape
        annotation["img_shape"] = annotation["original_shape"] = tuple(int(v) for v in shape)
    return annotation


def pyskl_splits(store_splits: dict, names: np.ndarray, kept: set[str]) -> dict[str, list[str]]:
    """{'xsub_train': [...], 'xsub_val': [...], ...}: xsub first, names sorted, exported samples only."""
    split = {}
    for benchmark in sorted(store_splits, key=lambda b: (b != "xsub", b)):
        for part, name in (("train", "train"), ("test", "val")):
            split[f"{benchmark}_{name}"] = sorted(str(n) for n in names[store_splits[benchmark][part]]
                                                  if str(n) in kept)
    return split


def export_pyskl(store: Path, out: Path, quarantine_csv: Path, options: ExportOptions = ExportOptions(),
                 progress: bool = True) -> dict:
    """Write the PYSKL pickle of a skeletons.zarr to `out` (atomically) and its quarantine CSV."""
    if options.dims not in (2, 3) or options.dtype not in ("float16", "float32"):
        raise ExportError(f"dims must be 2 or 3 and dtype float16 or float32, not {options.dims}, "
                          f"{options.dtype!r}")
    group = open_store(store, ARTIFACT)
    reader = InterimReader(group)
    source_format = str(group.attrs.get("source_format"))
    fields = _fields(group, source_format, options, store)
    annotations, quarantine = [], []
    with tqdm(total=len(reader), desc="export pyskl", unit="sample", disable=not progress) as bar:
        for block in reader.iter_blocks(BLOCK, fields):
            for sample in block:
                try:
                    annotations.append(_annotation(sample, reader, source_format, options))
                except PysklRuleError as error:
                    quarantine.append((str(sample["sample"]), f"no PYSKL output: {error}"))
            bar.update(len(block))
    annotations.sort(key=lambda a: a["frame_dir"])
    kept = {a["frame_dir"] for a in annotations}
    split = pyskl_splits(read_splits(group), reader.meta["sample"], kept)
    with atomic_file(out, "wb") as handle:
        pickle.dump({"split": split, "annotations": annotations}, handle, protocol=PICKLE_PROTOCOL)
    write_quarantine(quarantine_csv, quarantine)
    return {"samples": len(annotations), "quarantined": len(quarantine), "dims": options.dims,
            "two_actor_samples": sum(a["keypoint"].shape[0] == 2 for a in annotations), "out": str(out)}
