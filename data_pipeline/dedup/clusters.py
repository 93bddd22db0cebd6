"""Union-find over global item indices, and the quality-aware choice of which copy to keep (document and
sentence dedup rank copies the same way: one rule, here)."""

from __future__ import annotations

import numpy as np

from data_pipeline.stage import meta_of, text_of

# What `observe` records per document so `fit` can rank copies without the text: quality_score (NaN when
# absent), text length and how many original documents the record already stands for (an earlier dedup
# stage's meta.dup_cluster_size, else 1: exact then MinHash dedup add up), in arrival order (docs.npy).
DOC_STATS = np.dtype([("quality", np.float32), ("length", np.int64), ("cluster_size", np.int64)])
CLUSTER_SIZE = "dup_cluster_size"


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


def doc_stats(record: dict) -> tuple[float, int, int]:
    """One DOC_STATS row for `record`."""
    meta = meta_of(record)
    quality = meta.get("quality_score")
    return (np.nan if quality is None else float(quality), len(text_of(record)), int(meta.get(CLUSTER_SIZE, 1)))


def rank_key(stat: np.void, record_id: str) -> tuple:
    """keep_order of a DOC_STATS row and the record's id."""
    quality = None if np.isnan(stat["quality"]) else float(stat["quality"])
    return keep_order(quality, int(stat["length"]), record_id)


def keep_order(quality: float | None, length: int, record_id: str) -> tuple:
    """Sort key, smallest first = the member a cluster keeps: highest quality_score (records without one
    rank below every scored record), then the longer text, then the smaller id — deterministic."""
    q = -1.0 if quality is None or quality != quality else float(quality)
    return (-q, -length, record_id)
