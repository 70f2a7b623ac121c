"""Stage `skeletons`: skeletons.zarr (ragged tracks) -> skeleton.zarr (N, M, T, V, 3) normalised, zero-padded.

Per sample: denoise and select up to M actors (har.transforms.denoise; params section `denoise`, shared with the
heatmaps and video stages so every artifact shows the same actors), centre on the first frame's spine-mid
(or every frame's, or not at all: `centre`; optionally view-align), resample to T frames. Samples with no usable
body are quarantined with the reason.
The store's attrs record frames, persons, joints and the denoise settings, which training stages check against.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from har.builders.ingest import write_quarantine
from har.io.interim import InterimReader
from har.io.shards import Kept, Quarantined, ShardSink
from har.io.store import (
    SHARD_TARGET_BYTES,
    create_sample_array,
    open_store,
    read_splits,
    samples_per_shard,
    stamp,
    write_array,
    write_meta,
    write_splits,
)
from har.io.work import WorkArea, stage_fingerprint
from har.parallel import ComputeSettings
from har.shard_map import map_to_shards
from har.transforms.denoise import DenoiseConfig, NoActorError, select_actors
from har.transforms.normalize import normalize_skeleton, temporal_resize

ARTIFACT = "skeleton"
FIELDS = ("xyz",)  # the skeletons.zarr row arrays a sample needs


@dataclass(frozen=True)
class SkeletonOptions:
    """params.yaml section `skeletons` (actor selection: the top-level section `denoise`)."""
    frames: int = 32  # T
    align_view: bool = False
    # translation: first_frame (the origin actor's first-frame spine-mid) | per_frame (2s-AGCN) | none (raw)
    centre: Literal["first_frame", "per_frame", "none"] = "first_frame"

    moved_keys: ClassVar[dict[str, str]] = {
        "denoise": "actor selection is the top-level `denoise` section (shared by skeletons, heatmaps, video)"}


def normalized_skeleton(item: dict, options: SkeletonOptions,
                        denoise: DenoiseConfig = DenoiseConfig()) -> Kept[tuple[np.ndarray, int]] | Quarantined:
    """Kept(((M, T, V, 3) float32, length)) for one sample of InterimReader.iter_blocks, or why it is unusable."""
    try:
        actors = select_actors(item["tracks"], denoise)
    except NoActorError as error:
        return Quarantined(f"{item['sample']}: {error}")
    x = normalize_skeleton(actors.xyz, align_view=options.align_view, centre=options.centre)
    return Kept(temporal_resize(x, options.frames))


def _skeleton_rows(value: tuple[np.ndarray, int]) -> tuple[dict[str, np.ndarray], int]:
    """A kept sample's row of `x` and its record (the length)."""
    return {"x": value[0][None]}, int(value[1])


def subset_splits(splits: dict, kept: np.ndarray) -> dict:
    """Re-index split index arrays onto the kept samples (kept: increasing old indices)."""
    new_index = {int(old): new for new, old in enumerate(kept)}
    return {bench: {part: np.array([new_index[i] for i in idx if int(i) in new_index], np.int64)
                    for part, idx in parts.items()} for bench, parts in splits.items()}


def build_skeletons(interim: Path, out: Path, quarantine_csv: Path, settings: ComputeSettings,
                    options: SkeletonOptions = SkeletonOptions(), denoise: DenoiseConfig = DenoiseConfig(),
                    params: dict | None = None, progress: bool = True, work: Path | None = None,
                    shard_bytes: int = SHARD_TARGET_BYTES) -> dict:
    """Build skeleton.zarr; `params` (the params sections read, as plain data) is recorded in the attrs.

    work: the stage's work root (resumable, har.io.work), or None; shard_bytes: raw bytes per shard."""
    source = open_store(interim, "skeletons")
    if "xyz" not in source:
        raise ValueError(f"{interim}: the skeleton stage needs 3D joints (xyz); this store comes from a "
                         f"{source.attrs.get('source_format')!r} source")
    reader = InterimReader(source)
    num, joints = len(reader), int(source.attrs["num_joints"])
    shape = (denoise.max_actors, options.frames, joints, 3)
    record = {"options": asdict(options), "denoise": asdict(denoise), "params": params, "shard_bytes": shard_bytes}
    with WorkArea("skeletons", [out], work, stage_fingerprint("skeletons", [interim], record)) as area:
        group = area.group(out)
        if not area.resuming:
            create_sample_array(group, "x", num, shape, np.float32,
                                per_shard=samples_per_shard(4 * int(np.prod(shape)), shard_bytes))
        sink = ShardSink({"x": group["x"]}, _skeleton_rows, area.journal)
        start = sink.resume()
        items = (item for block in reader.iter_blocks(settings.block_size, list(FIELDS), start) for item in block)
        kept, quarantine = map_to_shards(sink, partial(normalized_skeleton, options=options, denoise=denoise),
                                         items, reader.meta["sample"], settings, start=start, total=num - start,
                                         desc="skeletons", progress=progress)
        if not kept:
            raise ValueError(f"{interim}: no sample has a usable body; see {quarantine_csv}")
        kept_index = kept.index()
        write_array(group, "length", np.fromiter(kept.records(), np.int32, len(kept)))
        write_meta(group, {k: v[kept_index] for k, v in reader.meta.items()})
        write_splits(group, subset_splits(read_splits(source), kept_index))
        stamp(group, artifact=ARTIFACT, params=params, layout=source.attrs["layout"],
              variant=source.attrs["variant"], frames=options.frames, align_view=options.align_view,
              centre=options.centre,
              persons=denoise.max_actors, joints=joints, denoise=dataclasses.asdict(denoise))
        resumed = area.report(sink.reused_shards, sink.shards, start, num)
    write_quarantine(quarantine_csv, quarantine)
    return {"samples": len(kept), "quarantined": len(quarantine), **({"resumed": resumed} if resumed else {})}
