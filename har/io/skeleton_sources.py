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
# Zip records (zip spec 4.3.7, 4.3.12, 4.3.14-16), signature first.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # ..., file name length, extra field length
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # ..., flags [3], method [4], CRC [7], sizes [8, 9], lengths [10-12], offset
_EOCD = struct.Struct("<4s4H2LH")  # ..., entries [4], directory size [5] and offset [6], comment length
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")  # ..., entries on this disk, entries, directory size, directory offset


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


def _directory(handle) -> tuple[bytes, int]:
    """(the central directory, its entry count) of an open zip archive, zip64 included (zip spec 4.3.14-16)."""
    size = handle.seek(0, os.SEEK_END)
    tail_start = max(0, size - _EOCD.size - 65535)  # the end record, then at most a 64 kB comment
    handle.seek(tail_start)
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        raise zipfile.BadZipFile("no end of central directory record")
    _, _, _, _, count, length, offset, _ = _EOCD.unpack_from(tail, at)
    if count == 0xFFFF or 0xFFFFFFFF in (length, offset):
        locator = tail_start + at - _ZIP64_LOCATOR.size
        handle.seek(locator)
        signature, _, end64, _ = _ZIP64_LOCATOR.unpack(handle.read(_ZIP64_LOCATOR.size))
        handle.seek(end64)
        record = _ZIP64_END.unpack(handle.read(_ZIP64_END.size))
        if signature != b"PK\x06\x07" or record[0] != b"PK\x06\x06":
            raise zipfile.BadZipFile("damaged zip64 end of central directory")
        count, length, offset = record[-3:]
    handle.seek(offset)
    directory = handle.read(length)
    if len(directory) != length:
        raise zipfile.BadZipFile("truncated central directory")
    return directory, count


def _zip64_values(extra: bytes, wanted: int) -> list[int]:
    """The first `wanted` 8-byte values of the zip64 extra field (id 1)."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == 1:
            return list(struct.unpack_from(f"<{wanted}Q", extra, at + 4))
        at += 4 + length
    raise zipfile.BadZipFile("zip64 sizes without a zip64 extra field")


def _archive_members(path: Path) -> list[SkeletonSource]:
    """The `.skeleton` members of an archive, read from its central directory: a few small objects per member
    (zipfile's ZipInfo list would cost about 0.5 kB more per member, at NTU120 size 60 MB)."""
    try:
        with open(path, "rb") as handle:
            directory, count = _directory(handle)
    except (zipfile.BadZipFile, OSError, struct.error) as error:
        raise SkeletonSourceError(f"{path}: not a readable zip archive ({error})") from None
    text, found, at = str(path), [], 0  # one path string shared by every member
    for _ in range(count):
        if directory[at:at + 4] != b"PK\x01\x02":
            raise SkeletonSourceError(f"{path}: damaged central directory at entry {len(found)}")
        fields = _CENTRAL.unpack_from(directory, at)
        flags, method, crc, size, full_size = fields[3], fields[4], fields[7], fields[8], fields[9]
        name_length, extra_length, comment_length, offset = fields[10], fields[11], fields[12], fields[16]
        start = at + _CENTRAL.size
        member = directory[start:start + name_length].decode("utf-8" if flags & 0x800 else "cp437")
        at = start + name_length + extra_length + comment_length
        if not member.endswith(SUFFIX):
            continue
        if flags & 0x1 or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SkeletonSourceError(f"{path}:{member}: encrypted or compressed with method {method} (stored and "
                                      f"deflated members are read)")
        wide = [v for v in (full_size, size, offset) if v == 0xFFFFFFFF]
        if wide:  # zip64: the values that did not fit, in this order, in the extra field
            values = iter(_zip64_values(directory[start + name_length:start + name_length + extra_length], len(wide)))
            full_size, size, offset = (next(values) if v == 0xFFFFFFFF else v for v in (full_size, size, offset))
        sample = member.replace("\\", "/").rsplit("/", 1)[-1][: -len(SUFFIX)]  # Windows tools write backslashes
        found.append(SkeletonSource(sample, text, member, offset, size, method, crc))
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
