import csv
import hashlib
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from har.builders.ingest import IngestError, IngestOptions, ingest_raw
from har.builders.ingest_pyskl import ingest_pyskl
from har.io.interim import InterimReader
from har.io.ntu_skeleton import read_skeleton
from har.io.store import open_store, read_splits
from har.parallel import ComputeSettings

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ntu-samples"  # real NTU files shipped with the tests
SYNC = ComputeSettings(scheduler="synchronous", block_size=2)


def tree_digest(path):
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = Path(root) / name
            out[str(full.relative_to(path))] = hashlib.md5(full.read_bytes()).hexdigest()
    return out


@pytest.fixture()
def raw(tmp_path):
    folder = tmp_path / "raw" / "nturgb+d_skeletons"
    folder.mkdir(parents=True)
    for path in SAMPLES.glob("*.skeleton"):
        shutil.copy(path, folder / path.name)
    (folder / "S001C001P002R001A002.skeleton").write_text("3\r\n1\r\n")  # truncated
    (folder / "not_a_sample.skeleton").write_text("0\r\n")
    shutil.copy(SAMPLES / "S001C001P001R001A011.skeleton", folder / "S001C002P005R002A008.skeleton")  # listed
    return tmp_path / "raw"


def quarantine_rows(path):
    with open(path) as handle:
        return {row["sample"]: row["reason"] for row in csv.DictReader(handle)}


def test_raw_ingest_is_lossless_and_quarantines_bad_files(raw, tmp_path):
    summary = ingest_raw(raw, tmp_path / "s.zarr", tmp_path / "q.csv", SYNC, progress=False)
    assert summary["samples_read"] == 3 and summary["quarantined"] == 3
    reasons = quarantine_rows(tmp_path / "q.csv")
    assert "line 3" in reasons["S001C001P002R001A002"] and "S001C001P002R001A002.skeleton" in reasons[
        "S001C001P002R001A002"]
    assert "not an NTU sample name" in reasons["not_a_sample"]
    assert "missing-skeleton list" in reasons["S001C002P005R002A008"]
    group = open_store(tmp_path / "s.zarr", "skeletons")
    reader = InterimReader(group)
    items = [item for block in reader.iter_blocks(2) for item in block]
    assert [i["sample"] for i in items] == sorted(p.stem for p in SAMPLES.glob("*.skeleton"))
    for item in items:
        parsed = read_skeleton(SAMPLES / f"{item['sample']}.skeleton")
        assert item["num_frames"] == parsed.num_frames
        assert len(item["tracks"]) == len(parsed.tracks)
        for mine, theirs in zip(item["tracks"], parsed.tracks):
            np.testing.assert_array_equal(mine.frames, theirs.frames)
            np.testing.assert_array_equal(mine.xyz, theirs.xyz)
            for field in ("color_xy", "depth_xy", "orientation", "tracking", "body_info", "lean"):
                np.testing.assert_array_equal(mine.extra[field], getattr(theirs, field))
    ids = [str(b) for b in group["body_id"][...]]
    assert ids[0] == read_skeleton(SAMPLES / "S001C001P001R001A001.skeleton").tracks[0].body_id
    assert read_splits(group)["xsub"]["train"].tolist() == [0, 1, 2]  # P001 and P015 are training subjects
    assert read_splits(group)["xview"]["test"].tolist() == [0, 1, 2]  # camera 1 is the cross-view test camera


def test_output_does_not_depend_on_the_scheduler(raw, tmp_path):
    ingest_raw(raw, tmp_path / "a.zarr", tmp_path / "qa.csv", SYNC, progress=False)
    processes = ComputeSettings(scheduler="processes", workers=2, block_size=1)
    ingest_raw(raw, tmp_path / "b.zarr", tmp_path / "qb.csv", processes, progress=False)
    assert tree_digest(tmp_path / "a.zarr") == tree_digest(tmp_path / "b.zarr")
    assert (tmp_path / "qa.csv").read_bytes() == (tmp_path / "qb.csv").read_bytes()


def test_fail_fast_stops_at_the_first_bad_file(raw, tmp_path):
    with pytest.raises(IngestError, match="not an NTU sample name"):
        ingest_raw(raw, tmp_path / "s.zarr", tmp_path / "q.csv", SYNC, IngestOptions(fail_fast=True),
                   progress=False)
    assert not (tmp_path / "s.zarr").exists()


def _zip_skeletons(archive: Path, members: list[Path], method=zipfile.ZIP_DEFLATED) -> None:
    """An archive laid out as NTU's: nturgb+d_skeletons/<sample>.skeleton members."""
    with zipfile.ZipFile(archive, "w", method) as out:
        for path in members:
            out.write(path, f"nturgb+d_skeletons/{path.name}")


@pytest.mark.parametrize("layout", ["one_zip", "two_zips_in_a_folder"])
def test_official_zip_archives_ingest_like_the_extracted_files(raw, tmp_path, layout):
    """NTU ships its skeletons as zip archives; read in place they give the store the extracted files give."""
    files = sorted((raw / "nturgb+d_skeletons").glob("*.skeleton"))
    if layout == "one_zip":
        source = tmp_path / "nturgbd_skeletons_s001_to_s017.zip"
        _zip_skeletons(source, files)
    else:
        source = tmp_path / "zipped"
        source.mkdir()
        _zip_skeletons(source / "nturgbd_skeletons_s001_to_s017.zip", files[:3])
        _zip_skeletons(source / "nturgbd_skeletons_s018_to_s032.zip", files[3:], zipfile.ZIP_STORED)
    ingest_raw(raw, tmp_path / "a.zarr", tmp_path / "qa.csv", SYNC, progress=False)
    processes = ComputeSettings(scheduler="processes", workers=2, block_size=2)
    summary = ingest_raw(source, tmp_path / "b.zarr", tmp_path / "qb.csv", processes, progress=False)
    assert summary["samples_read"] == 3 and summary["quarantined"] == 3
    a, b = tree_digest(tmp_path / "a.zarr"), tree_digest(tmp_path / "b.zarr")
    assert {k: v for k, v in a.items() if k != "zarr.json"} == {k: v for k, v in b.items() if k != "zarr.json"}
    assert open_store(tmp_path / "b.zarr").attrs["source"] == str(source)  # the only difference
    reasons = quarantine_rows(tmp_path / "qb.csv")
    assert ".zip:nturgb+d_skeletons/S001C001P002R001A002.skeleton" in reasons["S001C001P002R001A002"]
    assert "line 3" in reasons["S001C001P002R001A002"]


def test_a_damaged_archive_member_is_quarantined_with_its_name(raw, tmp_path):
    files = sorted((raw / "nturgb+d_skeletons").glob("S001C001P001R001A0*.skeleton"))
    archive = tmp_path / "skeletons.zip"
    _zip_skeletons(archive, files, zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as opened:
        info = opened.getinfo(f"nturgb+d_skeletons/{files[0].name}")
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0xFF  # one byte of its content: a CRC mismatch
    archive.write_bytes(bytes(data))
    summary = ingest_raw(archive, tmp_path / "s.zarr", tmp_path / "q.csv", SYNC, progress=False)
    reasons = quarantine_rows(tmp_path / "q.csv")
    assert summary["samples_read"] == len(files) - 1
    assert f"{archive}:nturgb+d_skeletons/{files[0].name}: damaged archive member" in reasons[files[0].stem]


def test_a_sample_both_extracted_and_zipped_is_refused(raw, tmp_path):
    files = sorted((raw / "nturgb+d_skeletons").glob("*.skeleton"))
    _zip_skeletons(raw / "nturgbd_skeletons_s001_to_s017.zip", files[:1])
    with pytest.raises(IngestError, match=f"sample {files[0].stem} is in .* and in .*zip"):
        ingest_raw(raw, tmp_path / "s.zarr", tmp_path / "q.csv", SYNC, progress=False)


def test_an_archive_of_another_compression_method_is_refused(raw, tmp_path):
    archive = tmp_path / "skeletons.zip"
    _zip_skeletons(archive, sorted((raw / "nturgb+d_skeletons").glob("*.skeleton"))[:1], zipfile.ZIP_BZIP2)
    with pytest.raises(IngestError, match="compressed with method 12"):
        ingest_raw(archive, tmp_path / "s.zarr", tmp_path / "q.csv", SYNC, progress=False)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "nturgbd_skeletons_s001_to_s017.zip").write_text("not an archive")
    with pytest.raises(IngestError, match="not a readable zip archive"):
        ingest_raw(tmp_path / "raw", tmp_path / "s.zarr", tmp_path / "q.csv", SYNC, progress=False)


def write_pickle(path, dims):
    rng = np.random.default_rng(0)
    names = ["S001C001P001R001A001", "S001C002P003R001A002", "S001C003P001R002A050"]
    annotations = []
    for k, name in enumerate(names):
        persons = 2 if k == 2 else 1
        keypoint = rng.normal(0, 1, (persons, 20, 25 if dims == 3 else 17, dims)).astype(
            np.float16 if dims == 3 else np.float32)
        if k == 2:
            keypoint[1, :5] = 0  # second person enters later
        ann = {"frame_dir": name, "label": int(name[-3:]) - 1, "total_frames": 20, "keypoint": keypoint}
        if dims == 2:
            ann.update(keypoint_score=np.ones(keypoint.shape[:3], np.float32), img_shape=(1080, 1920),
                       original_shape=(1080, 1920))
        annotations.append(ann)
    split = {"xsub_train": names[:1] + names[2:], "xsub_val": names[1:2],
             "xview_train": names[1:], "xview_val": names[:1]}
    with open(path, "wb") as handle:
        pickle.dump({"split": split, "annotations": annotations}, handle)


@pytest.mark.parametrize("dims", [2, 3])
def test_pyskl_pickles_ingest_with_their_splits(tmp_path, dims):
    write_pickle(tmp_path / "p.pkl", dims)
    summary = ingest_pyskl(tmp_path / "p.pkl", tmp_path / "s.zarr", tmp_path / "q.csv")
    assert summary["samples_read"] == 3 and summary["source_format"] == f"pyskl-{dims}d"
    group = open_store(tmp_path / "s.zarr", "skeletons")
    assert ("xyz" in group) == (dims == 3) and ("score" in group) == (dims == 2)
    splits = read_splits(group)
    assert splits["xsub"]["test"].tolist() == [1] and splits["xview"]["test"].tolist() == [0]
    reader = InterimReader(group)
    two_person = [i for b in reader.iter_blocks(3) for i in b][2]
    assert [t.frames[0] for t in two_person["tracks"]] == [0, 5]
    assert group.attrs["layout"] == ("ntu25" if dims == 3 else "coco17")
