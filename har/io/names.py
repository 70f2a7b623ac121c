"""NTU sample names (`SsssCcccPpppRrrrAaaa`) and the official missing-skeleton lists."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from har.errors import HarError

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


class SampleNameError(HarError, ValueError):
    """A string that is not an NTU sample name."""


@dataclass(frozen=True)
class SampleName:
    setup: int
    camera: int
    subject: int
    replication: int
    action: int  # 1-based A id

    @property
    def label(self) -> int:
        """0-based class label (A - 1)."""
        return self.action - 1

    def __str__(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}"
                f"R{self.replication:03d}A{self.action:03d}")


def parse_sample_name(name: str) -> SampleName:
    """Parse 'S001C002P003R002A013' (a path or a '.skeleton' / '_rgb.avi' suffix is stripped first)."""
    stem = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".skeleton", "_rgb.avi"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    match = _NAME.fullmatch(stem)
    if match is None:
        raise SampleNameError(
            f"{name!r} is not an NTU sample name: expected SsssCcccPpppRrrrAaaa with 3 digits each, "
            f"e.g. S001C002P003R002A013"
        )
    fields = [int(g) for g in match.groups()]
    if min(fields) < 1:
        raise SampleNameError(f"{name!r}: setup, camera, subject, replication and action start at 001")
    return SampleName(*fields)


@cache
def missing_skeletons(variant: str) -> frozenset[str]:
    """The official list of samples with missing or incomplete skeletons ('ntu60': 302, 'ntu120': 535)."""
    if variant not in ("ntu60", "ntu120"):
        raise ValueError(f"unknown dataset variant {variant!r} (expected 'ntu60' or 'ntu120')")
    text = resources.files("har.io").joinpath(f"data/{variant}_missing_skeletons.txt").read_text()
    return parse_missing_list(text)


def parse_missing_list(text: str) -> frozenset[str]:
    """Names from a missing-skeleton list: 3 header lines, then one sample name per line."""
    names = []
    for line_no, line in enumerate(text.splitlines()[3:], start=4):
        name = line.strip()
        if not name:
            continue
        if not _NAME.fullmatch(name):
            raise SampleNameError(f"missing-skeleton list, line {line_no}: {name!r} is not a sample name")
        names.append(name)
    return frozenset(names)
