"""Stage `skeletons`: skeletons.zarr (ragged tracks) -> skeleton.zarr (N, M, T, V, 3) normalised, zero-padded.

Per sample: denoise and select up to M actors (har.transforms.denoise; params section `denoise`, shared with the
heatmaps and video stages so every artifact shows the same actors), centre on the first frame's spine-mid
(optionally view-align), resample to T frames. Samples with no usable body are quarantined with the reason.
The store's attrs record frames, persons, joints and the denoise settings, which training stages check against.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from har.builders.ingest import write_quarantine
from har.io.interim import InterimReader
from har.io.store import (
    atomic_store,
    create_sample_array,
    open_store,
    read_splits,
    stamp,
    write_array,
    write_meta,
    write_splits,
)
from har.parallel import ComputeSettings, map_ordered
from har.transforms.denoise import DenoiseConfig, NoActorError, select_actors
from har.transforms.normalize import normalize_skeleton, temporal_resize

ARTIFACT = "skeleton"
FIELDS = ("xyz",)  # the skeletons.zarr row arrays a sample needs


@dataclass(frozen=True)
class SkeletonOptions:
    """params.yaml section `skeletons` (actor selection: the top-level section `denoise`)."""
    frames: int = 32  # T
    align_view: bool = False

    moved_keys: ClassVar[dict[str, str]] = {
        "denoise": "actor selection is the top-level `denoise` section (shared by skeletons, heatmaps, video)"}


def normalized_skeleton(item: dict, options: SkeletonOptions,
                        denoise: DenoiseConfig = DenoiseConfig()) -> tuple[np.ndarray, int] | str:
    """((M, T, V, 3) float32, length) for one sample of InterimReader.iter_blocks, or why it is unusable."""
    try:
        actors = select_actors(item["tracks"], denoise)
    except NoActorError as error:
        return f"{item['sample']}: {error}"
    x = normalize_skeleton(actors.xyz, align_view=options.align_view)
    return temporal_resize(x, options.frames)


def subset_splits(splits: dict, kept: np.ndarray) -> dict:
    """Re-index split index arrays onto the kept samples (kept: increasing old indices)."""
    new_index = {int(old): new for new, old in enumerate(kept)}
    return {bench: {part: np.array([new_index[i] for i in idx if int(i) in new_index], np.int64)
                    for part, idx in parts.items()} for bench, parts in splits.items()}


def build_skeletons(interim: Path, out: Path, quarantine_csv: Path, settings: ComputeSettings,
                    options: SkeletonOptions = SkeletonOptions(), denoise: DenoiseConfig = DenoiseConfig(),
                    params: dict | None = None, progress: bool = True) -> dict:
    """Build skeleton.zarr; `params` (the params sections read, as plain data) is recorded in the attrs."""
    source = open_store(interim, "skeletons")
    if "xyz" not in source:
        raise ValueError(f"{interim}: the skeleton stage needs 3D joints (xyz); this store comes from a "
                         f"{source.attrs.get('source_format')!r} source")
    reader = InterimReader(source)
    num, joints = len(reader), int(source.attrs["num_joints"])
    items = (item for block in reader.iter_blocks(settings.block_size, fields=list(FIELDS)) for item in block)
    quarantine, kept, lengths = [], [], []
    with atomic_store(out) as group:
        shape = (denoise.max_actors, options.frames, joints, 3)
        x = create_sample_array(group, "x", num, shape, np.float32)
        pending, start = [], 0
        results = map_ordered(partial(normalized_skeleton, options=options, denoise=denoise), items, settings,
                              desc="skeletons", total=num, progress=progress)
        for index, result in enumerate(results):
            if isinstance(result, str):
                quarantine.append((reader.meta["sample"][index], result))
                continue
            kept.append(index)
            lengths.append(result[1])
            pending.append(result[0])
            if len(pending) >= settings.block_size:
                x[start:start + len(pending)] = np.stack(pending)
                start, pending = start + len(pending), []
        if pending:
            x[start:start + len(pending)] = np.stack(pending)
        if not kept:
            raise ValueError(f"{interim}: no sample has a usable body; see {quarantine_csv}")
        kept_index = np.array(kept, np.int64)
        x.resize((len(kept), *shape))
        write_array(group, "length", np.array(lengths, np.int32))
        write_meta(group, {k: v[kept_index] for k, v in reader.meta.items()})
        write_splits(group, subset_splits(read_splits(source), kept_index))
        stamp(group, artifact=ARTIFACT, params=params, layout=source.attrs["layout"],
              variant=source.attrs["variant"], frames=options.frames, align_view=options.align_view,
              persons=denoise.max_actors, joints=joints, denoise=dataclasses.asdict(denoise))
    write_quarantine(quarantine_csv, quarantine)
    return {"samples": len(kept), "quarantined": len(quarantine)}
