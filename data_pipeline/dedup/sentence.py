"""Sentence-level near-duplicate removal across documents: boilerplate that survives document dedup.

Every sentence (zh 。！？； / en .?! / newline) of at least `min_sentence_chars` normalised characters gets
LSH band keys — MinHash of its shingles, or one hash of its normalised text in exact mode. Sentences that
collide are clustered by union-find; a cluster found in more than `max_docs` documents is boilerplate and
is removed from every document but the first (in shard, row order). A document left with too little text is
rejected as `sentence_dedup:too_little_left`; the others pass with the sentences cut out and
meta["sentence_dedup"] = {"removed_sentences", "removed_chars"}. Corpus totals go to summary.json.

Per shard under workdir/<name>/shard-NNNNN/: sentences.npy (row, sentence index, chars per candidate
sentence), band files, ids.jsonl; fit adds removals.json {"<row>": [id, [sentence indices]]}.
"""

from __future__ import annotations

import json
from array import array
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import xxhash

from data_pipeline.dedup.bucket_store import (
    CollisionFinder,
    IdWriter,
    load_ids,
    local_collisions,
    locate,
    read_summary,
    shard_dir,
    with_removals,
    write_band_files,
    write_removals,
    write_summary,
)
from data_pipeline.dedup.clusters import UnionFind
from data_pipeline.dedup.config import SentenceDedupConfig
from data_pipeline.dedup.hashing import MinHasher, ShingleHasher
from data_pipeline.dedup.lsh_params import optimal_bands_rows
from data_pipeline.dedup.text import normalize_for_hash, sentence_spans
from data_pipeline.stage import CorpusStage, ShardInfo, meta_of, reject, text_of

SENTENCE = np.dtype([("row", np.uint32), ("sentence", np.uint32), ("chars", np.uint32)])
# Sentences are hashed in batches of about this many (whole documents): one batched shingling + MinHash call
# instead of ~50 small numpy calls per sentence.
_HASH_BATCH_SENTENCES = 2048


class SentenceDedupStage(CorpusStage):
    def __init__(self, cfg: SentenceDedupConfig, seed: int = 1, name: str = "sentence_dedup",
                 merge_memory_mb: int = 256):
        self.name, self.cfg, self.seed = name, cfg, seed
        self.merge_memory_bytes = merge_memory_mb << 20
        if cfg.near_duplicates:
            self.bands, self.rows = optimal_bands_rows(
                cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight)
            self.shingler = ShingleHasher(cfg.ngram_zh, cfg.ngram_en, seed)
            self.minhasher = MinHasher(cfg.num_perm, seed)
        else:
            self.bands, self.rows = 1, 1
        self.workdir: Path | None = None
        self.summary: dict = {}

    def sentence_keys(self, normalized: list[str], langs: list[str | None]) -> np.ndarray:
        """uint64[len(normalized), bands]: the band keys of many normalised sentences at once."""
        if not self.cfg.near_duplicates:
            return np.array([xxhash.xxh3_64_intdigest(text.encode(), seed=self.seed) for text in normalized],
                            dtype=np.uint64).reshape(-1, 1)
        signatures = self.minhasher.signatures(*self.shingler.shingles_batch(normalized, langs))
        return self.minhasher.band_keys(signatures, self.bands, self.rows)

    def observe(self, records: Iterator[dict], shard: ShardInfo, workdir: Path) -> None:
        root = shard_dir(workdir / self.name, shard.index)
        root.mkdir(parents=True, exist_ok=True)
        entries = array("I")  # (row, sentence, chars) triplets, 12 bytes per sentence
        keys: list[np.ndarray] = []  # one (sentences, bands) block per batch of sentences
        pending: tuple[list[str], list[str | None]] = ([], [])  # sentences waiting to be hashed in one batch
        num_docs = 0
        with IdWriter(root) as ids:
            for row, record in enumerate(records):
                ids.write(record)
                num_docs += 1
                text = text_of(record)
                lang = meta_of(record).get("lang")
                for index, (start, end) in enumerate(sentence_spans(text)):
                    normalized = normalize_for_hash(text[start:end])
                    if len(normalized) >= self.cfg.min_sentence_chars:
                        entries.extend((row, index, end - start))
                        pending[0].append(normalized)
                        pending[1].append(lang)
                if len(pending[0]) >= _HASH_BATCH_SENTENCES:
                    keys.append(self.sentence_keys(*pending))
                    pending = ([], [])
        if pending[0]:
            keys.append(self.sentence_keys(*pending))
        np.save(root / "sentences.npy", np.frombuffer(entries, dtype=np.uint32).view(SENTENCE))
        (root / "num_docs.json").write_text(json.dumps(num_docs))
        band_keys = np.concatenate(keys) if keys else np.empty((0, self.bands), dtype=np.uint64)
        write_band_files(workdir / self.name, shard.index, np.arange(len(band_keys), dtype=np.uint32), band_keys)

    def fit(self, workdir: Path, num_shards: int, find_collisions: CollisionFinder = local_collisions) -> None:
        root = workdir / self.name
        self.workdir = workdir
        sentences = [np.load(shard_dir(root, s) / "sentences.npy") for s in range(num_shards)]
        num_docs = [json.loads((shard_dir(root, s) / "num_docs.json").read_text()) for s in range(num_shards)]
        offsets = np.cumsum([0] + [len(s) for s in sentences])
        doc_offsets = np.cumsum([0] + num_docs)
        clusters = UnionFind(int(offsets[-1]))
        for _band, group in find_collisions(root, offsets, self.bands, self.merge_memory_bytes):
            first = int(group[0])
            for item in group[1:].tolist():
                clusters.union(first, item)
        roots = clusters.roots()
        all_sentences = np.concatenate(sentences) if sentences else np.empty(0, dtype=SENTENCE)
        shard_of = np.repeat(np.arange(num_shards), np.diff(offsets))
        global_doc = doc_offsets[shard_of] + all_sentences["row"].astype(np.int64)
        removed = _boilerplate_repeats(roots, global_doc, self.cfg.max_docs)
        self._write_removals(root, removed, all_sentences, shard_of, doc_offsets)
        self.summary = {
            "removed_sentences": int(removed.sum()),
            "removed_chars": int(all_sentences["chars"][removed].sum()),
            "candidate_sentences": int(len(all_sentences)),
        }
        write_summary(root, self.summary)

    def _write_removals(self, root: Path, removed: np.ndarray, sentences: np.ndarray, shard_of: np.ndarray,
                        doc_offsets: np.ndarray) -> None:
        picked = np.flatnonzero(removed)
        rows = doc_offsets[shard_of[picked]] + sentences["row"][picked].astype(np.int64)
        ids = load_ids(root, np.unique(rows), doc_offsets)
        removals: dict[int, dict[str, list]] = defaultdict(dict)
        for row, index in zip(rows.tolist(), sentences["sentence"][picked].tolist()):
            shard, local = locate(doc_offsets, row)
            removals[shard].setdefault(str(local), [ids[row], []])[1].append(index)
        write_removals(root, len(doc_offsets) - 1, removals)

    def fit_summary(self, workdir: Path) -> dict:
        """The corpus-level counts of the last fit under `workdir` (also after a resumed run skipped fit)."""
        return read_summary(workdir / self.name)

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        if self.workdir is None:
            raise RuntimeError(f"{self.name}: run() before fit(); the executor must call fit first")
        for record, sentences in with_removals(self.workdir / self.name, shard.index, shard.name, records,
                                               self.name):
            if sentences is not None:
                self._cut(record, set(sentences))
            yield record

    def _cut(self, record: dict, drop: set[int]) -> None:
        text = record["text"]
        spans = sentence_spans(text)
        kept = "".join(text[s:e] for i, (s, e) in enumerate(spans) if i not in drop)
        removed_chars = len(text) - len(kept)
        stripped = len(kept.strip())
        if stripped < self.cfg.min_keep_chars or stripped < self.cfg.min_keep_fraction * len(text.strip()):
            reject(record, self.name, "too_little_left")
            return
        record["text"] = kept
        meta_of(record)["sentence_dedup"] = {"removed_sentences": len(drop), "removed_chars": removed_chars}


def _boilerplate_repeats(roots: np.ndarray, global_doc: np.ndarray, max_docs: int) -> np.ndarray:
    """Mask of sentences to remove: members of clusters spanning more than `max_docs` documents, except
    those in the cluster's first document."""
    if len(roots) == 0:
        return np.zeros(0, dtype=bool)
    pairs = np.unique(np.stack([roots, global_doc], axis=1), axis=0)  # one row per (cluster, document)
    cluster_ids, doc_counts = np.unique(pairs[:, 0], return_counts=True)
    first_doc = np.full(len(roots), -1, dtype=np.int64)
    starts = np.searchsorted(pairs[:, 0], cluster_ids)
    first_doc[cluster_ids] = pairs[starts, 1]  # pairs are sorted, so the first row of a cluster is its min doc
    boilerplate = np.zeros(len(roots), dtype=bool)
    boilerplate[cluster_ids[doc_counts > max_docs]] = True
    return boilerplate[roots] & (global_doc != first_doc[roots])
