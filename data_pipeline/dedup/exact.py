"""Exact document dedup: one 64-bit hash of the normalised text per record, constant memory per document."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xxhash

from data_pipeline.dedup.cluster_stage import ClusterDedupStage, ShardKeyer
from data_pipeline.dedup.text import normalize_for_hash
from data_pipeline.stage import text_of


class _TextHashKeyer(ShardKeyer):
    def __init__(self, seed: int):
        self.seed = seed

    def keys(self, records: list[dict]) -> list[np.ndarray]:
        digests = np.array([xxhash.xxh3_64_intdigest(normalize_for_hash(text_of(r)).encode("utf-8"), seed=self.seed)
                            for r in records], dtype=np.uint64)
        return list(digests.reshape(-1, 1))


class ExactDedupStage(ClusterDedupStage):
    """Records whose normalised texts are equal form one cluster; the best one (quality, length, id) stays."""

    def __init__(self, name: str = "exact_dedup", seed: int = 1, merge_memory_mb: int = 256):
        super().__init__(name, num_bands=1, merge_memory_mb=merge_memory_mb)
        self.seed = seed

    def shard_keyer(self, shard_root: Path) -> ShardKeyer:
        return _TextHashKeyer(self.seed)
