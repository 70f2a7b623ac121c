"""Command `export pyskl` (stage `export_pyskl`): data/interim/skeletons.zarr -> a PYSKL / mmaction2 pickle.

No params section: the command line says what to write (3D by default, `--2d` for colour-frame coordinates).
"""
from __future__ import annotations

from pathlib import Path

from har.builders.export_pyskl import ExportOptions, export_pyskl


def quarantine_path(out: Path) -> Path:
    """`<out stem>_quarantine.csv` next to the pickle."""
    return out.with_name(f"{out.stem}_quarantine.csv")


def run(out: Path, store: Path, options: ExportOptions, progress: bool = True) -> dict:
    return export_pyskl(store, out, quarantine_path(out), options, progress=progress)
