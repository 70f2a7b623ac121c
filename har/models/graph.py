"""Skeleton graphs for the graph-convolution backbones (ST-GCN, 2s-AGCN).

The spatial partition strategy of ST-GCN (Yan et al., AAAI 2018), also used by 2s-AGCN: the neighbours of a
joint are split into 3 subsets — the joint itself (root), neighbours closer to the gravity centre (centripetal)
and neighbours farther from it (centrifugal) — each a normalised adjacency matrix.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import shortest_path

from har.layout import NTU_CENTER, NTU_EDGES, NUM_JOINTS


def hop_distance(num_nodes: int, edges, max_hop: int = 1) -> np.ndarray:
    """(V, V) float64 shortest-path hop counts of the undirected graph, np.inf beyond max_hop or unreachable."""
    adjacency = np.zeros((num_nodes, num_nodes), dtype=bool)
    for i, j in edges:
        adjacency[i, j] = adjacency[j, i] = True
    distance = shortest_path(adjacency, directed=False, unweighted=True)
    return np.where(distance <= max_hop, distance, np.inf)


def normalize_columns(adjacency: np.ndarray) -> np.ndarray:
    """A · D⁻¹ with D the column degrees (ST-GCN's normalize_digraph)."""
    degree = adjacency.sum(axis=0)
    inverse = np.where(degree > 0, 1.0 / np.where(degree > 0, degree, 1), 0.0)
    return adjacency * inverse[None, :]


def spatial_partition(num_nodes: int = NUM_JOINTS, edges=NTU_EDGES, center: int = NTU_CENTER) -> np.ndarray:
    """(3, V, V) float32: root, centripetal and centrifugal adjacency of the spatial partition strategy."""
    hops = hop_distance(num_nodes, edges, max_hop=1)
    to_center = hop_distance(num_nodes, edges, max_hop=num_nodes)[:, center]
    normalized = normalize_columns((hops <= 1).astype(np.float64))
    subsets = np.zeros((3, num_nodes, num_nodes))
    for i in range(num_nodes):
        for j in range(num_nodes):
            if hops[j, i] != 1 and i != j:
                continue
            if to_center[j] == to_center[i]:
                subsets[0, j, i] = normalized[j, i]
            elif to_center[j] > to_center[i]:
                subsets[1, j, i] = normalized[j, i]
            else:
                subsets[2, j, i] = normalized[j, i]
    return subsets.astype(np.float32)
