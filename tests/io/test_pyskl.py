"""PYSKL pickles (3D ntu60_3danno-style, 2D ntu60_hrnet-style): reading, splits and every validation error."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from har.io.pyskl import PysklFormatError, parse_pyskl, read_pyskl

NAMES = ["S001C001P001R001A001", "S001C002P002R001A002", "S002C003P001R002A001", "S002C001P003R001A003"]


def annotation_3d(rng, name, label, frames, persons=1):
    return {"frame_dir": name, "label": label, "total_frames": frames,
            "keypoint": rng.normal(0, 1, (persons, frames, 25, 3)).astype(np.float16)}


def annotation_2d(rng, name, label, frames, persons=2):
    return {"frame_dir": name, "label": label, "total_frames": frames, "img_shape": (1080, 1920),
            "original_shape": (1080, 1920),
            "keypoint": rng.uniform(0, 1000, (persons, frames, 17, 2)).astype(np.float32),
            "keypoint_score": rng.uniform(0, 1, (persons, frames, 17)).astype(np.float32)}


def content(dims=3, seed=0):
    rng = np.random.default_rng(seed)
    make = annotation_3d if dims == 3 else annotation_2d
    annotations = [make(rng, name, i % 3, 5 + i) for i, name in enumerate(NAMES)]
    split = {"xsub_train": [NAMES[0], NAMES[2]], "xsub_val": [NAMES[3], NAMES[1]],
             "xview_train": [NAMES[1], NAMES[2]], "xview_val": [NAMES[0], NAMES[3]]}
    return {"split": split, "annotations": annotations}


def dump(tmp_path, obj, name="data.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def test_read_3d(tmp_path):
    source = content(3)
    dataset = read_pyskl(dump(tmp_path, source))
    assert dataset.dims == 3 and dataset.num_joints == 25 and len(dataset.samples) == 4
    sample = dataset.samples[1]
    assert sample.name == NAMES[1] and sample.label == 1 and sample.num_frames == 6
    assert sample.keypoint.dtype == np.float32 and sample.keypoint.shape == (1, 6, 25, 3)
    assert np.array_equal(sample.keypoint, source["annotations"][1]["keypoint"].astype(np.float32))
    assert sample.score is None and sample.img_shape is None
    assert set(dataset.splits) == {"xsub", "xview"}
    assert dataset.splits["xsub"]["train"].tolist() == [0, 2]
    assert dataset.splits["xsub"]["test"].tolist() == [1, 3]  # PYSKL's val, as sorted indices
    assert dataset.splits["xview"]["train"].dtype == np.int64
    assert dataset.index()[NAMES[3]] == 3


def test_read_2d(tmp_path):
    source = content(2)
    dataset = read_pyskl(dump(tmp_path, source))
    assert dataset.dims == 2 and dataset.num_joints == 17
    sample = dataset.samples[0]
    assert sample.keypoint.shape == (2, 5, 17, 2) and sample.score.shape == (2, 5, 17)
    assert sample.img_shape == (1080, 1920)
    assert np.array_equal(sample.score, source["annotations"][0]["keypoint_score"])


def test_ntu120_labels_and_xset(tmp_path):
    source = content(3)
    source["annotations"][0]["label"] = 119
    with pytest.raises(PysklFormatError, match=r"label 119 is out of range \[0, 60\)"):
        parse_pyskl(source, "p.pkl")
    source["split"] = {"xsub_train": NAMES[:2], "xsub_val": NAMES[2:], "xset_train": NAMES[1:], "xset_val": NAMES[:1]}
    dataset = parse_pyskl(source, "p.pkl")
    assert set(dataset.splits) == {"xsub", "xset"} and dataset.samples[0].label == 119
    assert parse_pyskl(content(3), "p.pkl", num_classes=3).samples[2].label == 2


def broken(change, dims=3):
    source = content(dims)
    change(source)
    return source


def _set(index, key, value):
    def change(source):
        source["annotations"][index][key] = value
    return change


def _drop(index, key):
    def change(source):
        del source["annotations"][index][key]
    return change


def _nonfinite(source):
    source["annotations"][2]["keypoint"][0, 1, 3, 2] = np.nan


ERRORS = [
    ("not a dict", lambda s: s.pop("split"), 3, r"expected dict\(split=\.\.\., annotations"),
    ("missing label", _drop(1, "label"), 3, f"sample '{NAMES[1]}': missing key\\(s\\) label"),
    ("missing keypoint", _drop(0, "keypoint"), 3, f"sample '{NAMES[0]}': missing key\\(s\\) keypoint"),
    ("missing frame_dir", _drop(2, "frame_dir"), 3, r"annotation 2: missing key\(s\) frame_dir"),
    ("missing score 2d", _drop(3, "keypoint_score"), 2, f"'{NAMES[3]}': missing key\\(s\\) keypoint_score"),
    ("missing img_shape 2d", _drop(0, "img_shape"), 2, r"missing key\(s\) img_shape"),
    ("score shape", _set(1, "keypoint_score", np.zeros((2, 6, 16), np.float32)), 2,
     r"keypoint_score shape \(2, 6, 16\) does not match keypoint shape \(2, 6, 17, 2\)"),
    ("total_frames", _set(2, "total_frames", 99), 3, f"'{NAMES[2]}': total_frames = 99 but keypoint has T = 7"),
    ("non-finite keypoint", _nonfinite, 3, f"'{NAMES[2]}': keypoint has a non-finite value nan at index "
                                           r"\(0, 1, 3, 2\)"),
    ("non-finite score", _set(0, "keypoint_score", np.full((2, 5, 17), np.inf, np.float32)), 2,
     "keypoint_score has a non-finite value inf"),
    ("negative label", _set(3, "label", -1), 3, r"label -1 is out of range \[0, 60\)"),
    ("label not int", _set(3, "label", 1.0), 3, "label must be an integer, found 1.0"),
    ("keypoint rank", _set(0, "keypoint", np.zeros((5, 25, 3), np.float32)), 3,
     r"keypoint must be \(M, T, V, 2 or 3\), found shape \(5, 25, 3\)"),
    ("keypoint not array", _set(0, "keypoint", [[0.0]]), 3, "keypoint must be a numeric numpy array"),
    ("joints differ", _set(1, "keypoint", np.zeros((1, 6, 17, 3), np.float16)), 3,
     r"sample '.*A002' has keypoint \(V, C\) = \(17, 3\)"),
    ("img_shape", _set(2, "img_shape", (1080,)), 2, r"img_shape must be \(height, width\)"),
    ("unknown split entry", lambda s: s["split"]["xsub_val"].append("S009C001P001R001A001"), 3,
     r"split 'xsub_val' names 1 sample\(s\) not in annotations, e.g. 'S009C001P001R001A001'"),
    ("bad split name", lambda s: s["split"].update(xsub_test=[]), 3, "split 'xsub_test' is not named"),
    ("split half missing", lambda s: s["split"].pop("xview_val"), 3, "needs both xview_train and xview_val"),
    ("train/val overlap", lambda s: s["split"]["xsub_val"].append(NAMES[0]), 3, "in both xsub_train and xsub_val"),
    ("duplicate sample", lambda s: s["annotations"].append(dict(s["annotations"][0])), 3, "appears twice"),
]


@pytest.mark.parametrize("name,change,dims,pattern", ERRORS, ids=[e[0] for e in ERRORS])
def test_validation_errors(tmp_path, name, change, dims, pattern):
    path = dump(tmp_path, broken(change, dims))
    with pytest.raises(PysklFormatError, match=pattern) as caught:
        read_pyskl(path)
    assert str(caught.value).startswith(str(path))


class _Exploit:
    def __reduce__(self):
        return os.getcwd, ()


def test_refuses_foreign_classes_and_garbage(tmp_path):
    with pytest.raises(PysklFormatError, match="refusing to construct posix.getcwd"):
        read_pyskl(dump(tmp_path, {"split": {}, "annotations": [_Exploit()]}))
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(PysklFormatError, match="not a readable PYSKL pickle"):
        read_pyskl(tmp_path / "junk.pkl")


def test_numpy1_module_names_load(tmp_path):
    """mmcv.dump (PYSKL's writer) uses protocol 2; numpy 1 names numpy.core.multiarray. Both must load."""
    # Protocol 2 names globals as text lines, so the module name can be swapped without breaking the framing.
    data = pickle.dumps(content(3), protocol=2).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in data
    (tmp_path / "old.pkl").write_bytes(data)
    assert read_pyskl(tmp_path / "old.pkl").samples[0].keypoint.shape == (1, 5, 25, 3)
