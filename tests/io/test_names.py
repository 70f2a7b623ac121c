"""NTU sample names and the official missing-skeleton lists."""
from __future__ import annotations

from pathlib import Path

import pytest

from har.io.names import SampleName, SampleNameError, missing_skeletons, parse_missing_list, parse_sample_name

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ntu-samples"  # real NTU files shipped with the tests


@pytest.mark.parametrize("text,expected", [
    ("S001C002P003R002A013", SampleName(1, 2, 3, 2, 13)),
    ("S032C003P106R002A120", SampleName(32, 3, 106, 2, 120)),
    ("nturgb+d_skeletons/S017C001P020R001A060.skeleton", SampleName(17, 1, 20, 1, 60)),
    ("C:\\data\\S001C001P001R001A001_rgb.avi", SampleName(1, 1, 1, 1, 1)),
])
def test_good_names(text, expected):
    parsed = parse_sample_name(text)
    assert parsed == expected
    assert parsed.label == expected.action - 1
    assert parse_sample_name(str(parsed)) == parsed


@pytest.mark.parametrize("text", [
    "", "S001C002P003R002", "S01C002P003R002A013", "s001c002p003r002a013", "S001C002P003R002A013x",
    "S001C002P003R002A013.txt", "S000C001P001R001A001", "S001C001P001R001A000", "xS001C002P003R002A013",
])
def test_bad_names(text):
    with pytest.raises(SampleNameError, match="SsssCcccPpppRrrrAaaa|start at 001"):
        parse_sample_name(text)


@pytest.mark.parametrize("variant,count,shared", [
    ("ntu60", 302, "NTU_RGBD_samples_with_missing_skeletons.txt"),
    ("ntu120", 535, "NTU_RGBD120_samples_with_missing_skeletons.txt"),
])
def test_missing_lists(variant, count, shared):
    names = missing_skeletons(variant)
    assert len(names) == count
    assert names == parse_missing_list((SAMPLES / shared).read_text())
    assert all(parse_sample_name(n) for n in names)
    assert all(parse_sample_name(n).setup <= 17 for n in missing_skeletons("ntu60"))


def test_missing_list_errors():
    with pytest.raises(ValueError, match="unknown dataset variant"):
        missing_skeletons("ntu90")
    with pytest.raises(SampleNameError, match="line 5"):
        parse_missing_list("a\nb\nc\nS001C001P001R001A001\nnot-a-name\n")
