from collections import deque

import numpy as np
import pytest

from har.layout import NTU_EDGES, NUM_JOINTS
from har.models.graph import hop_distance


def _bfs_hops(num_nodes: int, edges, source: int) -> np.ndarray:
    """Reference: breadth-first search from `source`, np.inf for nodes it never reaches."""
    neighbours = [[] for _ in range(num_nodes)]
    for i, j in edges:
        neighbours[i].append(j)
        neighbours[j].append(i)
    hops = np.full(num_nodes, np.inf)
    hops[source] = 0
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for other in neighbours[node]:
            if hops[other] == np.inf:
                hops[other] = hops[node] + 1
                queue.append(other)
    return hops


@pytest.mark.parametrize("max_hop", [0, 1, 2, 3, NUM_JOINTS])
def test_hop_distance_matches_breadth_first_search_on_the_ntu_graph(max_hop):
    expected = np.stack([_bfs_hops(NUM_JOINTS, NTU_EDGES, v) for v in range(NUM_JOINTS)])
    expected[expected > max_hop] = np.inf
    np.testing.assert_array_equal(hop_distance(NUM_JOINTS, NTU_EDGES, max_hop), expected)


def test_hop_distance_longest_ntu_path_and_disconnected_nodes():
    hops = hop_distance(NUM_JOINTS, NTU_EDGES, NUM_JOINTS)
    # 1-based joints: left hand tip 22 -> thumb 23 -> hand 8 -> wrist 7 -> elbow 6 -> shoulder 5 -> spine shoulder 21
    # (6 hops), then 21 -> 9 -> 10 -> 11 -> 12 -> 25 -> right hand tip 24 (6 more), or 21 -> 2 -> 1 -> 17 -> 18
    # -> 19 -> right foot 20 (6 more).
    assert hops[21, 23] == 12 and hops[21, 19] == 12 and hops.max() == 12
    hops = hop_distance(4, [(0, 1), (1, 2)], max_hop=4)
    assert hops[0, 2] == 2 and hops[3, 3] == 0 and np.isinf(hops[0, 3]) and np.isinf(hops[3, 1])
