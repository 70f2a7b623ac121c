"""`har-prep inspect`: what is inside an artifact."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from har.errors import UnknownNameError
from har.io.store import open_store, read_splits, read_strings


def describe(path: Path, sample: str | None = None) -> str:
    group = open_store(path)
    lines = [f"{path}: {group.attrs.get('artifact', '?')} artifact, format {group.attrs.get('format_version')}"]
    for name in sorted(group.array_keys()):
        array = group[name]
        lines.append(f"  {name:<14} {str(array.shape):<28} {array.dtype}  chunks={array.chunks}"
                     + (f" shards={array.shards}" if array.shards else ""))
    if "splits" in group:
        for bench, parts in read_splits(group).items():
            lines.append(f"  split {bench}: train {len(parts['train'])}, test {len(parts['test'])}")
    attrs = {k: v for k, v in group.attrs.items() if k not in ("artifact", "format_version")}
    lines.append("  attrs: " + json.dumps(attrs, sort_keys=True)[:2000])
    if sample is not None:
        names = list(read_strings(group["sample"]))
        if sample not in names:
            raise UnknownNameError(f"{path}: no sample {sample!r}")
        i = names.index(sample)
        lines.append(f"  sample {sample} (row {i}):")
        for name in sorted(group.array_keys()):
            array = group[name]
            if array.shape and array.shape[0] == len(names):
                value = np.asarray(array[i])
                text = value if value.size <= 8 else f"shape {value.shape}, min {value.min()}, max {value.max()}"
                lines.append(f"    {name}: {text}")
    return "\n".join(lines)
