"""Stage `ingest`: a raw NTU folder or a PYSKL pickle -> data/interim/skeletons.zarr + quarantine report."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from har.builders.ingest import IngestOptions, ingest_raw
from har.errors import MissingArtifactError
from har.io.store import write_json
from har.parallel import ComputeSettings
from pipeline import paths
from pipeline.params import as_record, load_params, section


@dataclass(frozen=True)
class IngestParams:
    # raw NTU folder (nturgb+d_skeletons/ or NTU's nturgbd_skeletons_*.zip, nturgb+d_rgb/), a skeleton .zip, or a .pkl
    source: str = str(paths.SYNTHETIC_RAW)
    use_missing_list: bool = True
    fail_fast: bool = False


def run(params_file: Path, source: str | None = None, progress: bool = True) -> dict:
    params = load_params(params_file)
    config = section(IngestParams, "ingest", params_file, params)
    compute = section(ComputeSettings, "compute", params_file, params)
    source_path = Path(source or config.source)
    options = IngestOptions(use_missing_list=config.use_missing_list, fail_fast=config.fail_fast)
    quarantine = paths.REPORTS / "ingest_quarantine.csv"
    # The source actually read (params or --source) is recorded once, as the store's `source` attr, as given
    # (relative paths stay relative to the project root, so the store is byte-identical in every clone).
    record = {k: v for k, v in as_record(config).items() if k != "source"}
    if source_path.is_file() and source_path.suffix == ".pkl":
        from har.builders.ingest_pyskl import ingest_pyskl
        summary = ingest_pyskl(source_path, paths.INTERIM_SKELETONS, quarantine, options, record)
    elif source_path.is_dir() or (source_path.is_file() and source_path.suffix == ".zip"):
        summary = ingest_raw(source_path, paths.INTERIM_SKELETONS, quarantine, compute, options, record,
                             progress, work=paths.WORK / "ingest")
    else:
        raise MissingArtifactError(f"ingest.source {source_path}: neither a folder of NTU raw data, a .zip of "
                                   f".skeleton files nor a .pkl file")
    # a resumed run reports what it reused on the terminal; the metrics file stays that of an uninterrupted run
    write_json(paths.REPORTS / "ingest_summary.json", {k: v for k, v in summary.items() if k != "resumed"})
    return summary
