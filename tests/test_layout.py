import numpy as np
import pytest

from har import layout
from har.models.graph import spatial_partition


def test_ntu_edges_pinned_to_stgcn_convention():
    # Hand tip -> thumb -> hand (ST-GCN/2s-AGCN/CTR-GCN), not PYSKL's tip -> hand, thumb -> hand.
    one_based = {(a + 1, b + 1) for a, b in layout.NTU_EDGES}
    assert len(layout.NTU_EDGES) == 24
    assert (22, 23) in one_based and (23, 8) in one_based and (24, 25) in one_based and (25, 12) in one_based
    assert (22, 8) not in one_based and (24, 12) not in one_based
    assert layout.NTU_CENTER == 20


def test_every_joint_reaches_the_centre():
    parent = layout.NTU_PARENT
    for joint in range(layout.NUM_JOINTS):
        seen, j = set(), joint
        while j != layout.NTU_CENTER:
            assert j not in seen
            seen.add(j)
            j = parent[j]


def test_body_part_groups():
    assert layout.LEFT_HAND_JOINTS == (6, 7, 21, 22)
    assert layout.RIGHT_HAND_JOINTS == (10, 11, 23, 24)
    assert [j for _, j in layout.STROI_PARTS] == [3, 7, 11, 15, 19]


def test_spatial_partition_is_column_normalised():
    a = spatial_partition()
    assert a.shape == (3, 25, 25)
    np.testing.assert_allclose(a.sum(axis=(0, 1)), 1.0, atol=1e-6)
    assert np.all(np.diag(a[0]) > 0)


def test_ntu60_splits_follow_the_official_rules():
    subject = np.array([1, 3, 2, 6, 38, 40])
    camera = np.array([1, 2, 3, 1, 2, 3])
    setup = np.ones(6, int)
    splits = layout.benchmark_splits("ntu60", setup, camera, subject)
    assert splits["xsub"]["train"].tolist() == [0, 2, 4]
    assert splits["xsub"]["test"].tolist() == [1, 3, 5]
    assert splits["xview"]["train"].tolist() == [1, 2, 4, 5]
    assert splits["xview"]["test"].tolist() == [0, 3]


def test_ntu120_uses_setups_and_extra_subjects():
    splits = layout.benchmark_splits("ntu120", np.array([1, 2, 31, 32]), np.ones(4), np.array([45, 44, 1, 3]))
    assert set(splits) == {"xsub", "xset"}
    assert splits["xsub"]["train"].tolist() == [0, 2]
    assert splits["xset"]["train"].tolist() == [1, 3]
    assert layout.dataset_variant(np.array([1, 18]), np.array([1, 1])) == "ntu120"
    assert layout.dataset_variant(np.array([1, 17]), np.array([1, 60])) == "ntu60"
    with pytest.raises(ValueError, match="unknown dataset variant"):
        layout.benchmark_splits("ntu90", setup=[1], camera=[1], subject=[1])


def test_action_names():
    assert layout.action_name(0) == "drink water"
    assert layout.action_name(119) == "finger-guessing game"
    assert 50 in layout.TWO_PERSON_ACTIONS and 49 not in layout.TWO_PERSON_ACTIONS
