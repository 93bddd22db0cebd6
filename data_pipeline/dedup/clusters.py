"""Union-find over global item indices, and the quality-aware choice of which cluster member to keep."""

from __future__ import annotations

import numpy as np


class UnionFind:
    """Disjoint sets over 0..n-1 in one int64 array (8 bytes per item); union by smaller index as root, so
    the root of a cluster is its earliest item and results do not depend on the order pairs arrive in."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = int(parent[x])
        return int(x)

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        return True

    def roots(self) -> np.ndarray:
        """Root of every item, by vectorised pointer jumping."""
        parent = self.parent.copy()
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                return parent
            parent = grand


def keep_order(quality: float | None, length: int, record_id: str) -> tuple:
    """Sort key, smallest first = the member a cluster keeps: highest quality_score (records without one
    rank below every scored record), then the longer text, then the smaller id — deterministic."""
    q = -1.0 if quality is None or quality != quality else float(quality)
    return (-q, -length, record_id)
