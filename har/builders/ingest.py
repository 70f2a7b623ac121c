"""Ingest: raw NTU `.skeleton` files (or a PYSKL pickle) -> `skeletons.zarr`, lossless, plus a quarantine report.

Samples (files, or members of NTU's zip archives: har.io.skeleton_sources) are read in parallel (har.parallel) in
sorted-name order; results are settled in that order into
whole shards (har.io.shards), so memory is bounded by one block and one shard and the output does not depend on
the scheduler. Given a work root the stage resumes after a crash from its last finished shard (har.io.work).
A file that cannot be read, a name that is not an NTU sample name and a sample on the official missing-skeleton
list are quarantined with a reason; with `fail_fast` the first such file stops the stage instead.
"""
from __future__ import annotations

import csv
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from har.errors import HarError
from har.io.interim import ARTIFACT, InterimWriter, SampleTracks
from har.io.names import SampleNameError, missing_skeletons, parse_sample_name
from har.io.shards import Kept, Quarantined, Records, ShardSink
from har.io.skeleton_format import SkeletonFormatError
from har.io.skeleton_sources import SUFFIX, SkeletonSource, SkeletonSourceError, skeleton_sources, source_files
from har.io.store import atomic_file, stamp, write_splits
from har.io.work import WorkArea, stage_fingerprint
from har.layout import benchmark_splits, dataset_variant
from har.parallel import ComputeSettings
from har.shard_map import map_to_shards

NTU_FIELDS = ("xyz", "depth_xy", "color_xy", "orientation", "tracking", "body_info", "lean")


@dataclass(frozen=True)
class IngestOptions:
    use_missing_list: bool = True  # quarantine samples on the official missing-skeleton lists
    fail_fast: bool = False  # stop at the first bad file instead of quarantining it


class IngestError(HarError, RuntimeError):
    """A bad input with fail_fast on, or an input that yields no sample at all."""


def raw_sources(source: Path) -> list[SkeletonSource]:
    """The `.skeleton` samples of a raw NTU source (folder, extracted or official zip archives), sorted by name."""
    try:
        return skeleton_sources(source)
    except SkeletonSourceError as error:
        raise IngestError(str(error)) from None


def _fail(reason: str) -> None:
    """ingest.fail_fast: the first malformed file stops the stage."""
    raise IngestError(reason)


def read_sample(source: SkeletonSource | Path) -> Kept[SampleTracks] | Quarantined:
    """Parse one sample (a file, or a member of an archive) into packed rows, or the reason it cannot be used
    (runs in a worker)."""
    from har.io.ntu_skeleton import parse_skeleton
    if isinstance(source, Path):
        source = SkeletonSource(source.name[: -len(SUFFIX)], str(source))
    try:
        skeleton = parse_skeleton(source.read(), str(source))
    except (SkeletonFormatError, OSError, UnicodeDecodeError) as error:
        return Quarantined(str(error))
    except zipfile.BadZipFile as error:
        return Quarantined(f"{source}: damaged archive member ({error})")
    tracks = skeleton.tracks
    if not tracks:
        return Quarantined(f"{source}: no body in any of its {skeleton.num_frames} frames")
    rows = {name: np.concatenate([getattr(t, name) for t in tracks]) for name in NTU_FIELDS}
    return Kept(SampleTracks(
        name=source.name, num_frames=skeleton.num_frames,
        frame=np.concatenate([t.frames for t in tracks]).astype(np.int32), rows=rows,
        body_ids=[t.body_id for t in tracks], track_rows=[t.num_frames for t in tracks],
    ))


def _screen_names(sources: Sequence[SkeletonSource],
                  options: IngestOptions) -> tuple[list[SkeletonSource], list[tuple[str, str]]]:
    """Split sources into readable candidates and (sample, reason) rows for bad names / missing-list samples."""
    names, quarantine, keep = [], [], []
    for source in sources:
        try:
            names.append(parse_sample_name(source.name))
            keep.append(source)
        except SampleNameError as error:
            quarantine.append((source.name, f"{source}: {error}"))
    if options.use_missing_list and names:
        variant = dataset_variant([n.setup for n in names], [n.action for n in names])
        missing = missing_skeletons(variant)
        quarantine += [(s.name, f"on the official {variant} missing-skeleton list") for s in keep if s.name in missing]
        keep = [s for s in keep if s.name not in missing]
    return keep, quarantine


def write_quarantine(path: Path, rows: Sequence[tuple[str, str]]) -> None:
    with atomic_file(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample", "reason"])
        writer.writerows(sorted(rows))


def _meta_from_names(names: Sequence[str]) -> dict[str, np.ndarray]:
    parsed = [parse_sample_name(n) for n in names]
    return {"sample": np.array(names, dtype=str), "label": np.array([p.label for p in parsed]),
            "setup": np.array([p.setup for p in parsed]), "camera": np.array([p.camera for p in parsed]),
            "subject": np.array([p.subject for p in parsed]),
            "replication": np.array([p.replication for p in parsed])}


def ingest_raw(source: Path, out: Path, quarantine_csv: Path, settings: ComputeSettings,
               options: IngestOptions = IngestOptions(), params: dict | None = None,
               progress: bool = True, work: Path | None = None, shard_rows: int = 32768) -> dict:
    """Build skeletons.zarr from a raw NTU folder. Returns the closing summary.

    work: the stage's work root (resumable, har.io.work), or None; shard_rows: frame rows per shard."""
    import har.io.ntu_skeleton  # noqa: F401 (read_sample's reader: part of the code the fingerprint covers)
    candidates, screened = _screen_names(raw_sources(Path(source)), options)
    if options.fail_fast and screened:
        raise IngestError(screened[0][1])
    settings_record = {"options": asdict(options), "params": params, "shard_rows": shard_rows,
                       "source": str(source)}
    fingerprint = stage_fingerprint("ingest", source_files(candidates), settings_record)
    with WorkArea("ingest", [out], work, fingerprint) as area:
        group = area.group(out)
        writer = InterimWriter(group, NTU_FIELDS, num_joints=25, shard_rows=shard_rows, create=not area.resuming)
        sink = ShardSink(writer.arrays, writer.split, area.journal)
        start = sink.resume()
        kept, quarantine = map_to_shards(sink, read_sample, candidates[start:],
                                         [s.name for s in candidates], settings,
                                         start=start, desc="ingest", progress=progress,
                                         on_quarantine=_fail if options.fail_fast else None)
        summary = _finish(group, writer, kept.records(), "ntu-skeleton", "ntu25", params, source)
        resumed = area.report(sink.reused_shards, sink.shards, start, len(candidates))
    write_quarantine(quarantine_csv, screened + quarantine)
    summary["quarantined"] = len(screened) + len(quarantine)
    return {**summary, **({"resumed": resumed} if resumed else {})}


def recorded_source(group, store: Path) -> Path:
    """The raw source (NTU folder or PYSKL pickle) an interim store was ingested from, as the ingest stage was
    given it (a relative path is relative to the project root, so the store is the same bytes in every clone).
    Stages downstream of ingest read it here, never from params (`har-prep ingest --source` overrides those)."""
    if "source" not in group.attrs:
        raise IngestError(f"{store} does not record the source it was ingested from (built by an older version): "
                          f"rebuild it (dvc repro ingest)")
    return Path(group.attrs["source"])


def _finish(group, writer: InterimWriter, samples: Records, source_format: str, layout: str, params,
            source, splits: dict | None = None) -> dict:
    names = [s.name for s in samples]
    if not names:
        raise IngestError(f"{source}: every sample was quarantined; nothing to write")
    meta = _meta_from_names(names)
    writer.close(samples, meta)
    variant = dataset_variant(meta["setup"], meta["label"] + 1)
    write_splits(group, splits or benchmark_splits(variant, meta["setup"], meta["camera"], meta["subject"]))
    stamp(group, artifact=ARTIFACT, params=params, source=str(source), source_format=source_format,
          layout=layout, variant=variant, num_joints=25 if layout == "ntu25" else 17)
    return {"samples_read": len(names), "frames": int(sum(s.num_frames for s in samples)),
            "bodies": int(sum(len(s.body_ids) for s in samples)), "variant": variant,
            "source_format": source_format}
