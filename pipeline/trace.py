"""Which project modules a stage really loads, so a test can hold dvc.yaml's deps to them.

With HAR_TRACE_MODULES=<folder> set, `har-prep` writes `<folder>/<stage>.json` at exit: the repository-relative
files of every `har`/`pipeline` module in `sys.modules`, and whether torch was imported. The stage name is DVC's
(`DVC_STAGE`, set for every stage command) or the command line. Only the main process is traced, so trace with
`compute.scheduler: synchronous` to see what worker processes would load too.
"""
from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

ENV = "HAR_TRACE_MODULES"
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("har", "pipeline")


def loaded_project_files() -> list[str]:
    """Sorted repository-relative paths of the loaded modules of this project's packages."""
    files = set()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name.split(".")[0] in PACKAGES and path:
            files.add(Path(path).resolve().relative_to(ROOT).as_posix())
    return sorted(files)


def _write(folder: Path, stage: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"stage": stage, "modules": loaded_project_files(), "torch": "torch" in sys.modules}
    (folder / f"{stage}.json").write_text(json.dumps(record, indent=1))


def install(argv: list[str]) -> None:
    """Register the exit hook when HAR_TRACE_MODULES is set (a no-op otherwise)."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    stage = os.environ.get("DVC_STAGE") or "_".join(a for a in argv[1:3] if not a.startswith("-"))
    atexit.register(_write, Path(folder), stage.replace("@", "-"))
