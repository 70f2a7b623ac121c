"""`har-prep export pyskl`: raw .skeleton files -> ingest -> PYSKL pickle equals the reference made from the same
files, with PYSKL's split names; 2D from the colour coordinates; deterministic bytes; and the round trip through
the PYSKL import keeps every value."""
from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from har.builders.export_pyskl import ExportError, ExportOptions, export_pyskl
from har.builders.ingest import ingest_raw
from har.builders.ingest_pyskl import ingest_pyskl
from har.io.interim import InterimReader
from har.io.store import open_store, read_splits
from pipeline.cli import app
from tests.builders.conftest import SYNC
from tests.transforms.pyskl_reference import reference_keypoint, reference_scores
from tests.transforms.test_pyskl_ntu import DONORS, REAL, body, random_case, skeleton_text

# generated files named to cover both xsub and xview halves; seed -> name
GENERATED = {3: "S001C002P002R001A050", 5: "S002C001P003R002A051", 8: "S003C003P004R001A052",
             13: "S001C001P008R002A058", 21: "S004C002P010R001A060", 34: "S005C003P013R002A055"}
XSUB_TRAIN = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}  # PYSKL's list
FAILING = "S001C003P001R001A053"  # two short bodies: PYSKL has no output


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    raw = root / "raw"
    raw.mkdir()
    for path in REAL:
        shutil.copy(path, raw / path.name)
    for seed, name in GENERATED.items():
        (raw / f"{name}.skeleton").write_text(random_case(seed), newline="")
    a, b, _ = DONORS
    (raw / f"{FAILING}.skeleton").write_text(
        skeleton_text(20, [body(a, "7", range(5)), body(b, "8", range(6, 14))]), newline="")
    ingest_raw(raw, root / "skeletons.zarr", root / "ingest_quarantine.csv", SYNC, progress=False)
    return root


def load(path: Path) -> dict:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def texts(root: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((root / "raw").glob("*.skeleton"))}


def test_3d_export_equals_the_reference_with_pyskl_splits(store, tmp_path):
    summary = export_pyskl(store / "skeletons.zarr", tmp_path / "a.pkl", tmp_path / "q.csv", progress=False)
    content = load(tmp_path / "a.pkl")
    sources = texts(store)
    names = [a["frame_dir"] for a in content["annotations"]]
    assert names == sorted(set(sources) - {FAILING}) and summary["quarantined"] == 1
    assert FAILING in (tmp_path / "q.csv").read_text()
    assert any(a["keypoint"].shape[0] == 2 for a in content["annotations"])
    for annotation in content["annotations"]:
        expected = reference_keypoint(sources[annotation["frame_dir"]]).astype(np.float16)
        assert annotation["keypoint"].dtype == np.float16
        np.testing.assert_array_equal(annotation["keypoint"], expected)
        assert annotation["total_frames"] == expected.shape[1]
        assert annotation["label"] == int(annotation["frame_dir"][-3:]) - 1
    split = content["split"]
    assert list(split) == ["xsub_train", "xsub_val", "xview_train", "xview_val"]
    assert split["xsub_train"] == [n for n in names if int(n[9:12]) in XSUB_TRAIN]
    assert split["xsub_val"] == [n for n in names if int(n[9:12]) not in XSUB_TRAIN]
    assert split["xview_train"] == [n for n in names if "C001" not in n]
    assert split["xview_val"] == [n for n in names if "C001" in n]


def test_2d_export_uses_colour_coordinates_and_tracking_scores(store, tmp_path):
    export_pyskl(store / "skeletons.zarr", tmp_path / "b.pkl", tmp_path / "q.csv",
                 ExportOptions(dims=2, dtype="float32"), progress=False)
    sources = texts(store)
    for annotation in load(tmp_path / "b.pkl")["annotations"]:
        text = sources[annotation["frame_dir"]]
        np.testing.assert_array_equal(annotation["keypoint"], reference_keypoint(text, (5, 6)))
        np.testing.assert_array_equal(annotation["keypoint_score"], reference_scores(text))
        assert annotation["img_shape"] == annotation["original_shape"] == (1080, 1920)
    with pytest.raises(ExportError, match="dtype"):
        export_pyskl(store / "skeletons.zarr", tmp_path / "c.pkl", tmp_path / "q.csv", ExportOptions(dtype="f8"))


def read_back(path: Path) -> dict[str, tuple]:
    """What the PYSKL import stored: per sample (label, num_frames, (M, T, V, C) keypoint, (M, T, V) score)."""
    reader = InterimReader(open_store(path))
    out = {}
    for block in reader.iter_blocks(16):
        for sample in block:
            first = reader.track_start[sample["index"]]
            slots = [int(b) for b in reader.body_id[first:first + reader.num_tracks[sample["index"]]]]
            shape = (max(slots) + 1, sample["num_frames"], *sample["tracks"][0].xyz.shape[1:])
            keypoint, score = np.zeros(shape, np.float32), np.zeros(shape[:3], np.float32)
            for slot, track in zip(slots, sample["tracks"]):
                keypoint[slot, track.frames] = track.xyz
                score[slot, track.frames] = track.extra.get("score", 0)
            out[sample["sample"]] = (sample["label"], sample["num_frames"], keypoint, score)
    return out


@pytest.mark.parametrize("dims", [3, 2])
def test_round_trip_through_the_pyskl_import_keeps_every_value(store, tmp_path, dims):
    export_pyskl(store / "skeletons.zarr", tmp_path / "x.pkl", tmp_path / "q.csv",
                 ExportOptions(dims=dims, dtype="float32" if dims == 2 else "float16"), progress=False)
    content = load(tmp_path / "x.pkl")
    ingest_pyskl(tmp_path / "x.pkl", tmp_path / "back.zarr", tmp_path / "iq.csv")
    assert (tmp_path / "iq.csv").read_text().splitlines() == ["sample,reason"]
    back = read_back(tmp_path / "back.zarr")
    assert sorted(back) == [a["frame_dir"] for a in content["annotations"]]
    for annotation in content["annotations"]:
        label, frames, keypoint, score = back[annotation["frame_dir"]]
        assert (label, frames) == (annotation["label"], annotation["total_frames"])
        exported = annotation["keypoint"].astype(np.float32)
        kept = exported[:len(keypoint)]
        assert not exported[len(keypoint):].any()  # only an all-zero slot is not stored
        np.testing.assert_array_equal(keypoint, kept)
        if dims == 2:
            np.testing.assert_array_equal(score, annotation["keypoint_score"][:len(keypoint)])
    group = open_store(tmp_path / "back.zarr")
    names = InterimReader(group).meta["sample"]
    for benchmark, parts in read_splits(group).items():
        for part, pyskl_part in (("train", "train"), ("test", "val")):
            assert names[parts[part]].tolist() == content["split"][f"{benchmark}_{pyskl_part}"]
    # and a second export of the imported store writes the same annotations back
    export_pyskl(tmp_path / "back.zarr", tmp_path / "y.pkl", tmp_path / "q2.csv",
                 ExportOptions(dims=dims, dtype="float32" if dims == 2 else "float16"), progress=False)
    again = load(tmp_path / "y.pkl")
    assert again["split"] == content["split"]
    for first, second in zip(content["annotations"], again["annotations"]):
        m = len(second["keypoint"])
        np.testing.assert_array_equal(first["keypoint"][:m], second["keypoint"])


def test_cli_writes_deterministic_bytes(store, tmp_path):
    runner = CliRunner()
    for name in ("one.pkl", "two.pkl"):
        result = runner.invoke(app, ["export", "pyskl", str(tmp_path / name), "--store",
                                     str(store / "skeletons.zarr"), "--quiet"])
        assert result.exit_code == 0, result.output
        assert "samples=9" in result.output and "quarantined=1" in result.output
    assert (tmp_path / "one.pkl").read_bytes() == (tmp_path / "two.pkl").read_bytes()
    assert (tmp_path / "one_quarantine.csv").exists()
    assert runner.invoke(app, ["export", "pyskl", "--help"]).exit_code == 0
    bad = runner.invoke(app, ["export", "pyskl", str(tmp_path / "z.pkl"), "--store", str(tmp_path / "none.zarr")])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "none.zarr" in bad.output
