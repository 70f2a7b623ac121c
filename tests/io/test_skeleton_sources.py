"""Raw skeleton sources: NTU's zip archives are listed from their central directory and read by offset, giving
exactly what zipfile gives, zip64 and comments included."""
from __future__ import annotations

import zipfile

import pytest

from har.io.skeleton_sources import SkeletonSourceError, skeleton_sources


def _texts(count: int) -> dict[str, bytes]:
    return {f"S001C001P{i + 1:03d}R001A001": (f"{i}\r\n" * (50 + i)).encode() for i in range(count)}


def _write(path, texts, method=zipfile.ZIP_DEFLATED, zip64=False, comment=b"", folder="nturgb+d_skeletons/"):
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.comment = comment
        archive.writestr(zipfile.ZipInfo(folder), b"")  # a directory entry, skipped
        archive.writestr("readme.txt", b"not a sample")
        for name, text in texts.items():
            with archive.open(zipfile.ZipInfo(f"{folder}{name}.skeleton"), "w", force_zip64=zip64) as member:
                member.write(text)


@pytest.mark.parametrize(("method", "zip64", "comment"), [(zipfile.ZIP_DEFLATED, False, b""),
                                                           (zipfile.ZIP_STORED, False, b"x" * 300),
                                                           (zipfile.ZIP_DEFLATED, True, b"")])
def test_archive_members_are_read_as_zipfile_reads_them(tmp_path, method, zip64, comment):
    texts = _texts(5)
    _write(tmp_path / "a.zip", texts, method, zip64, comment)
    sources = skeleton_sources(tmp_path / "a.zip")
    assert [s.name for s in sources] == sorted(texts)
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        for source in sources:
            info = archive.getinfo(source.member)
            assert (source.offset, source.size, source.method, source.crc) == (
                info.header_offset, info.compress_size, info.compress_type, info.CRC)
            assert source.read() == texts[source.name] == archive.read(source.member)
            assert str(source) == f"{tmp_path / 'a.zip'}:nturgb+d_skeletons/{source.name}.skeleton"


def test_a_truncated_archive_is_refused(tmp_path):
    _write(tmp_path / "a.zip", _texts(3))
    data = (tmp_path / "a.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(SkeletonSourceError, match="not a readable zip archive|neither a folder"):
        skeleton_sources(tmp_path / "cut.zip")


def test_members_at_the_archive_root_or_in_other_folders_count(tmp_path):
    _write(tmp_path / "a.zip", _texts(2), folder="")
    _write(tmp_path / "b.zip", dict(list(_texts(4).items())[2:]), folder="some/other/")
    (tmp_path / "folder").mkdir()
    for name in ("a.zip", "b.zip"):
        (tmp_path / "folder" / name).write_bytes((tmp_path / name).read_bytes())
    sources = skeleton_sources(tmp_path / "folder")
    assert [s.name for s in sources] == sorted(_texts(4)) and [s.read() for s in sources] == list(
        dict(sorted(_texts(4).items())).values())
