"""Where a raw NTU folder keeps its `.skeleton` files: extracted, or still inside the official zip archives.

NTU RGB+D's skeletons are distributed as `nturgbd_skeletons_s001_to_s017.zip` (NTU60, 56,880 files) and
`nturgbd_skeletons_s018_to_s032.zip` (the rest of NTU120). Reading their members in place spares an extraction of
57k-114k small files (slow on the shared filesystems of clusters) and leaves DVC a dependency of one or two files
instead of one per sample: a no-op `dvc status` stats and looks up every file of a dependency folder, about 20 µs
each, so 114k files cost it more than two seconds.

A source (`ingest.source`) is a folder holding `nturgb+d_skeletons/` (extracted), `*.skeleton` files, or zip
archives of them (any `*.zip` directly in the folder; members are found by their `.skeleton` suffix whatever
their folder inside the archive), or one such zip archive itself. A sample found twice is an error naming both.
"""
from __future__ import annotations

import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SUFFIX = ".skeleton"
SKELETON_DIR = "nturgb+d_skeletons"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... file name length, extra field length (zip spec 4.3.7)


class SkeletonSourceError(ValueError):
    """A raw source that holds no readable `.skeleton` files, or holds a sample twice."""


@dataclass(frozen=True, order=True, slots=True)
class SkeletonSource:
    """One sample's `.skeleton` text: a file (`member` None) or a member of the zip archive at `path`, located by
    the archive's directory (offset of its local header, compressed size, method, CRC-32), so a worker reads it
    with two preads and never loads the directory itself (57k-114k entries, tens of MB per process)."""
    name: str  # the sample name (file name without .skeleton)
    path: str
    member: str | None = None
    offset: int = 0
    size: int = 0
    method: int = zipfile.ZIP_STORED
    crc: int = 0

    def __str__(self) -> str:
        """How errors and reports name it: the file, or `archive.zip:member`."""
        return self.path if self.member is None else f"{self.path}:{self.member}"

    def read(self) -> bytes:
        """The file's bytes (OSError, or zipfile.BadZipFile for a damaged member)."""
        if self.member is None:
            return Path(self.path).read_bytes()
        return _read_member(self)


@lru_cache(maxsize=8)
def _archive_fd(path: str) -> int:
    """An archive opened once per process (closed at exit)."""
    return os.open(path, os.O_RDONLY)


def _read_member(source: SkeletonSource) -> bytes:
    """A member's bytes: its local header (for the name and extra field lengths), then its data, inflated and
    checked against the directory's CRC-32."""
    fd = _archive_fd(source.path)
    header = os.pread(fd, _LOCAL_HEADER.size, source.offset)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header at offset {source.offset}")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
    data = os.pread(fd, source.size, source.offset + _LOCAL_HEADER.size + name_length + extra_length)
    if len(data) != source.size:
        raise zipfile.BadZipFile(f"truncated: {len(data)} of {source.size} bytes")
    if source.method == zipfile.ZIP_DEFLATED:
        try:
            data = zlib.decompress(data, -15)
        except zlib.error as error:
            raise zipfile.BadZipFile(f"cannot inflate ({error})") from None
    if zlib.crc32(data) != source.crc:
        raise zipfile.BadZipFile("Bad CRC-32")
    return data


def _archive_members(path: Path) -> list[SkeletonSource]:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise SkeletonSourceError(f"{path}: not a readable zip archive ({error})") from None
    text = str(path)  # one string shared by every member
    found = []
    for info in infos:
        if info.is_dir() or not info.filename.endswith(SUFFIX):
            continue
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SkeletonSourceError(f"{path}:{info.filename}: encrypted or compressed with method "
                                      f"{info.compress_type} (stored and deflated members are read)")
        found.append(SkeletonSource(Path(info.filename).name[: -len(SUFFIX)], text, info.filename,
                                    info.header_offset, info.compress_size, info.compress_type, info.CRC))
    return found


def skeleton_sources(source: Path) -> list[SkeletonSource]:
    """The `.skeleton` samples of a raw source (see the module doc), sorted by sample name."""
    source = Path(source)
    if source.is_file() and zipfile.is_zipfile(source):
        found = _archive_members(source)
    elif source.is_dir():
        folder = source / SKELETON_DIR if (source / SKELETON_DIR).is_dir() else source
        found = [SkeletonSource(p.name[: -len(SUFFIX)], str(p)) for p in folder.glob(f"*{SUFFIX}")]
        for archive in sorted(source.glob("*.zip")):
            found += _archive_members(archive)
    else:
        raise SkeletonSourceError(f"{source}: neither a folder nor a zip archive of .skeleton files")
    if not found:
        raise SkeletonSourceError(f"{source}: no .skeleton files (expected <name>.skeleton files, a "
                                  f"{SKELETON_DIR}/ folder of them, or NTU's nturgbd_skeletons_*.zip archives)")
    found.sort()
    for first, second in zip(found, found[1:]):
        if first.name == second.name:
            raise SkeletonSourceError(f"sample {first.name} is in {first} and in {second}: keep one of them")
    return found


def source_files(sources: list[SkeletonSource]) -> list[Path]:
    """The files behind `sources` (each archive once), sorted: what identifies the inputs of a run."""
    return sorted({Path(s.path) for s in sources})
