"""Near-duplicate documents by MinHash LSH, with optional verification of every candidate pair by the true
Jaccard similarity of the two shingle sets (kept on disk per shard, read back pair by pair while fitting)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from data_pipeline.dedup.bucket_store import locate, shard_dir
from data_pipeline.dedup.cluster_stage import ClusterDedupStage, ShardKeyer
from data_pipeline.dedup.config import MinHashDedupConfig
from data_pipeline.dedup.hashing import MinHasher, ShingleHasher, jaccard
from data_pipeline.dedup.lsh_params import optimal_bands_rows
from data_pipeline.stage import meta_of, text_of


def bands_rows(cfg: MinHashDedupConfig) -> tuple[int, int]:
    if cfg.bands and cfg.rows:
        return cfg.bands, cfg.rows
    return optimal_bands_rows(cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight)


class _MinHashKeyer(ShardKeyer):
    """Band keys per record; with verification on, also appends each record's sorted shingle hashes to
    shingles.bin (ends in shingle_ends.npy) so fit can compute true Jaccard for candidate pairs."""

    def __init__(self, stage: MinHashDedupStage, shard_root: Path):
        self.stage, self.shard_root = stage, shard_root
        self.verify = stage.cfg.verify
        self.ends: list[int] = []
        self.total = 0
        self.file = open(shard_root / "shingles.bin", "wb") if self.verify else None

    def keys(self, records: list[dict]) -> list[np.ndarray | None]:
        shingles, ends = self.stage.batch_shingles(records)
        if self.file is not None:
            self.file.write(shingles.tobytes())
            self.ends.extend((ends + self.total).tolist())
            self.total += len(shingles)
        return self.stage.batch_band_keys(shingles, ends)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            np.save(self.shard_root / "shingle_ends.npy", np.array(self.ends, dtype=np.int64))


class MinHashDedupStage(ClusterDedupStage):
    def __init__(self, cfg: MinHashDedupConfig, seed: int = 1, name: str = "minhash_dedup",
                 merge_memory_mb: int = 256):
        self.bands, self.rows = bands_rows(cfg)
        super().__init__(name, num_bands=self.bands, merge_memory_mb=merge_memory_mb)
        self.cfg = cfg
        self.shingler = ShingleHasher(cfg.ngram_zh, cfg.ngram_en, seed)
        self.minhasher = MinHasher(cfg.num_perm, seed)
        self._shingle_files: dict[int, tuple] = {}  # shard -> (shingles.bin, shingle_ends.npy, header bytes)

    def doc_shingles(self, record: dict) -> np.ndarray:
        return self.shingler.shingles(text_of(record), meta_of(record).get("lang"))

    def doc_band_keys(self, shingles: np.ndarray) -> np.ndarray | None:
        if len(shingles) == 0:
            return None
        return self.minhasher.band_keys(self.minhasher.signature(shingles), self.bands, self.rows)[0]

    def batch_shingles(self, records: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """doc_shingles of many records: (hashes concatenated, int64 end of each record's run)."""
        return self.shingler.shingles_batch([text_of(r) for r in records],
                                            [meta_of(r).get("lang") for r in records])

    def batch_band_keys(self, shingles: np.ndarray, ends: np.ndarray) -> list[np.ndarray | None]:
        """doc_band_keys of each run of `shingles` (None for a record without shingles)."""
        keys = self.minhasher.band_keys(self.minhasher.signatures(shingles, ends), self.bands, self.rows)
        counts = np.diff(ends, prepend=0)
        return [key if count else None for key, count in zip(keys, counts.tolist())]

    def shard_keyer(self, shard_root: Path) -> ShardKeyer:
        return _MinHashKeyer(self, shard_root)

    def same_cluster(self, a: int, b: int, root: Path, offsets: np.ndarray) -> bool:
        if not self.cfg.verify:
            return True
        return jaccard(self._stored_shingles(a, root, offsets),
                       self._stored_shingles(b, root, offsets)) >= self.cfg.threshold

    def _stored_shingles(self, row: int, root: Path, offsets: np.ndarray) -> np.ndarray:
        """One record's shingle hashes, with positioned reads of its two ends and its run: a memory map (or a
        loaded ends array per shard) would keep something per record of the corpus in this process, since a
        task's buckets touch records all over it."""
        shard, local = locate(offsets, row)
        if shard not in self._shingle_files:
            directory = shard_dir(root, shard)
            ends = open(directory / "shingle_ends.npy", "rb")
            major, _ = np.lib.format.read_magic(ends)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            read_header(ends)  # leaves the file at the first element
            self._shingle_files[shard] = (open(directory / "shingles.bin", "rb"), ends, ends.tell())
        data, ends, header = self._shingle_files[shard]
        if local:
            start, end = np.frombuffer(os.pread(ends.fileno(), 16, header + (local - 1) * 8), dtype=np.int64)
        else:
            start, end = 0, np.frombuffer(os.pread(ends.fileno(), 8, header), dtype=np.int64)[0]
        return np.frombuffer(os.pread(data.fileno(), (int(end) - int(start)) * 8, int(start) * 8), dtype=np.uint64)

    def release(self) -> None:
        for data, ends, _ in self._shingle_files.values():
            data.close()
            ends.close()
        self._shingle_files.clear()
