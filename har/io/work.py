"""Work areas: where a stage builds its stores so that a killed run can be resumed.

A stage given a work root (`data/work/<stage>/`, outside the DVC outputs, git-ignored) builds its stores in
`<root>/<fingerprint>/`, keyed by a fingerprint of its inputs (a listing of their files: path, size, mtime), its
settings and the project code loaded (har.provenance.code_digest). A `Journal` there records every finished shard
(har.io.shards.ShardSink). A rerun with the same fingerprint reopens the stores and goes on after the last finished
shard; work under any other fingerprint is stale and deleted, and so are the `<out>.tmp-<pid>` / `.old-<pid>`
temporaries of runs that are no longer alive. On success the stores are renamed onto the outputs and the work
folder is deleted. Without a work root a stage builds in `<out>.tmp-<pid>` and resumes nothing (tests, one-offs).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path

import zarr

from har.io.store import _remove, _replace, _tmp_sibling
from har.provenance import code_digest

WORK_FORMAT = 1
_TEMPORARY = re.compile(r"\.(tmp|old)-(\d+)$")


def listing(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every file under `paths` (a file or a folder), sorted: the inputs' identity."""
    rows = []
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            info = file.stat()
            rows.append((str(file), info.st_size, info.st_mtime_ns))
    return rows


def stage_fingerprint(stage: str, inputs: Iterable[Path], settings: Mapping) -> str:
    """Identity of one stage run: its inputs' listing, its settings (plain data) and the project code loaded.
    Call it once the stage's per-sample code is imported."""
    digest = hashlib.sha256(json.dumps([WORK_FORMAT, stage, settings, code_digest()], sort_keys=True,
                                       default=repr).encode())
    digest.update(json.dumps(listing(inputs)).encode())
    return digest.hexdigest()[:16]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_temporaries(out: Path) -> list[Path]:
    """Delete `<out>.tmp-<pid>` and `<out>.old-<pid>` left by processes that are gone; returns what was removed."""
    removed = []
    for path in Path(out).parent.glob(f"{Path(out).name}.*-*"):
        match = _TEMPORARY.search(path.name)
        if match and path.name[:match.start()] == Path(out).name and not _alive(int(match.group(2))):
            _remove(path)
            removed.append(path)
    return removed


class Journal:
    """Segments `journal/<n>.pkl`, one per batch of finished shards: the inputs settled since the previous
    segment (har.io.shards.Settled) and the rows each array holds. Each segment is written whole and renamed
    into place, so a killed run leaves complete segments only. The files are this stage's own work (pickles
    of plain records), read back only under the same fingerprint."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = len(self._segments())

    def _segments(self) -> list[Path]:
        return sorted(self.folder.glob("*.pkl"))

    def entries(self) -> Iterator:
        """Every settled entry of every segment, in order (read one segment at a time)."""
        for path in self._segments():
            with open(path, "rb") as handle:
                yield from pickle.load(handle)["settled"]

    def written(self) -> dict[str, int]:
        """The rows each array held on disk at the last segment ({} when there is none)."""
        segments = self._segments()
        if not segments:
            return {}
        with open(segments[-1], "rb") as handle:
            return pickle.load(handle)["written"]

    def append(self, settled: Sequence, written: Mapping[str, int]) -> None:
        path = self.folder / f"{self.count:08d}.pkl"
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as handle:
            pickle.dump({"settled": list(settled), "written": dict(written)}, handle, protocol=5)
        os.replace(tmp, path)
        self.count += 1

    def reset(self, settled: Iterable, written: Mapping[str, int], segment: int = 4096) -> None:
        """Replace every segment by segments holding `settled` (after a resume dropped what it recomputes)."""
        for path in self._segments():
            path.unlink()
        self.count = 0
        entries = iter(settled)
        while True:
            part = list(islice(entries, segment))
            if part or not self.count:
                self.append(part, written)
            if len(part) < segment:
                return


class WorkArea:
    """Builds the stores `outs` of one stage run; see the module docstring. Use as a context manager."""

    def __init__(self, stage: str, outs: Sequence[Path], root: Path | None, fingerprint: str):
        self.stage, self.outs, self.root = stage, [Path(p) for p in outs], root
        self.folder = None if root is None else Path(root) / fingerprint
        self.journal: Journal | None = None
        self.resuming = False

    def __enter__(self) -> WorkArea:
        for out in self.outs:
            remove_dead_temporaries(out)
        if self.folder is not None:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            for stale in self.folder.parent.iterdir():
                if stale != self.folder:
                    _remove(stale)
            self.journal = Journal(self.folder / "journal")
            self.resuming = self.journal.count > 0
        else:
            for out in self.outs:
                _remove(self.path(out))
        return self

    def path(self, out: Path) -> Path:
        """Where the store for `out` is built."""
        return _tmp_sibling(Path(out)) if self.folder is None else self.folder / Path(out).name

    def group(self, out: Path) -> zarr.Group:
        """The store for `out`: reopened when resuming, else fresh."""
        mode = "r+" if self.resuming else "w"
        return zarr.open_group(str(self.path(out)), mode=mode, zarr_format=3)

    def report(self, reused: int, total: int, start: int, num: int) -> str | None:
        """The resume message (also printed to stderr), or None when nothing was reused. start: the first input
        recomputed (arrays whose last shard was not finished restart there), num: the inputs."""
        if not self.resuming:
            return None
        message = f"reused {reused} of {total} shards, recomputed samples {start}..{num - 1} of {num}"
        print(f"{self.stage}: {message} from {self.folder}", file=sys.stderr)
        return message

    def __exit__(self, kind, error, trace) -> None:
        if kind is not None:
            if self.folder is None:
                for out in self.outs:
                    _remove(self.path(out))
            return
        for out in self.outs:
            out.parent.mkdir(parents=True, exist_ok=True)
            _replace(self.path(out), out)
        if self.folder is not None:
            shutil.rmtree(self.folder)
