"""Sentence-level dedup across documents: boilerplate passages that survive document dedup.

As datatrove's SentenceDedup: every run of `span_sentences` consecutive sentences (zh 。！？； / en .?! /
newline; sentences that normalise to nothing are skipped) with at least `min_span_chars` normalised characters
gets one 64-bit hash of its normalised text. Exact spans, not near-duplicates: two species articles whose
fin-ray counts differ share no span, and a span is removed only where its exact text stays elsewhere. A span
found in more than `max_docs` documents is boilerplate; it is kept in the one document document dedup would
keep (quality, length, id: `clusters.keep_order`) and cut from the others, so the result does not depend on
input order, shard count or worker count.

Documents are decided best first: a document loses the spans some better surviving document keeps; it is
rejected (`sentence_dedup:too_little_left`, text untouched) when too little would remain, and then keeps
nothing for others; otherwise it keeps each remaining repeated span that is still whole in it. So every cut
piece is, after normalisation, inside the kept text of the document named in its `duplicate_of`.

Per shard under workdir/<name>/shard-NNNNN/: span-keys.npy (hash, row, start, end of every candidate span,
20 bytes each, sorted by hash), docs.npy (quality, length), ids.jsonl; fit adds removals.json
{"<row>": [id, {"pieces": [[start, end, duplicate_of], ...], "reject": bool}]}.

fit holds nothing per document or span of the corpus (sentence_fit.py): boilerplate spans are found per range
of hashes, their occurrences are ranked per range of documents, and one task visits the involved documents
best first through a merge of those sorted runs, with the keeper of each boilerplate span in a table on disk.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import xxhash

from data_pipeline.dedup.bucket_store import IdWriter, read_summary, shard_dir, with_removals, write_summary
from data_pipeline.dedup.clusters import DOC_STATS, doc_stats
from data_pipeline.dedup.config import SentenceDedupConfig
from data_pipeline.dedup.sentence_fit import SPAN_FILE, SPAN_KEY, fit_sentence_dedup
from data_pipeline.dedup.tasks import TaskMap, serial_map
from data_pipeline.dedup.text import normalize_for_hash, sentence_spans
from data_pipeline.stage import CorpusStage, ShardInfo, meta_of, reject, text_of

REJECT_RULE = "too_little_left"


class SentenceDedupStage(CorpusStage):
    def __init__(self, cfg: SentenceDedupConfig, seed: int = 1, name: str = "sentence_dedup",
                 merge_memory_mb: int = 256):
        self.name, self.cfg, self.seed = name, cfg, seed
        self.merge_memory_bytes = merge_memory_mb << 20
        self.workdir: Path | None = None
        self.summary: dict = {}

    def spans(self, text: str) -> Iterator[tuple[int, int, int]]:
        """(start, end, hash) of every candidate span of `text`, in order."""
        sentences = []
        for start, end in sentence_spans(text):
            normalized = normalize_for_hash(text[start:end])
            if normalized:
                sentences.append((start, end, normalized))
        n = self.cfg.span_sentences
        for i in range(len(sentences) - n + 1):
            window = sentences[i:i + n]
            joined = "\n".join(s[2] for s in window)
            if len(joined) - (n - 1) >= self.cfg.min_span_chars:
                yield window[0][0], window[-1][1], xxhash.xxh3_64_intdigest(joined.encode(), seed=self.seed)

    def observe(self, records: Iterator[dict], shard: ShardInfo, workdir: Path) -> None:
        root = shard_dir(workdir / self.name, shard.index)
        root.mkdir(parents=True, exist_ok=True)
        entries, keys, stats = array("I"), array("Q"), []  # 12 + 8 bytes per span, as the file holds them
        with IdWriter(root) as ids:
            for row, record in enumerate(records):
                ids.write(record)
                stats.append(doc_stats(record))
                for start, end, key in self.spans(text_of(record)):
                    entries.extend((row, start, end))
                    keys.append(key)
        np.save(root / "docs.npy", np.array(stats, dtype=DOC_STATS))
        spans = np.frombuffer(entries, dtype=np.uint32).reshape(-1, 3)
        hashes = np.frombuffer(keys, dtype=np.uint64)
        order = np.lexsort((spans[:, 1], spans[:, 0], hashes))  # by hash, then (row, start): arrival order
        table = np.empty(len(hashes), dtype=SPAN_KEY)
        table["key"], table["row"], table["start"], table["end"] = hashes[order], *spans[order].T
        np.save(root / SPAN_FILE, table)

    def fit(self, workdir: Path, num_shards: int, map_tasks: TaskMap = serial_map) -> None:
        root = workdir / self.name
        self.workdir = workdir
        self.summary = fit_sentence_dedup(root, num_shards, self.cfg, self.merge_memory_bytes, map_tasks)
        write_summary(root, self.summary)

    def fit_summary(self, workdir: Path) -> dict:
        """The corpus-level counts of the last fit under `workdir` (also after a resumed run skipped fit)."""
        return read_summary(workdir / self.name)

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        if self.workdir is None:
            raise RuntimeError(f"{self.name}: run() before fit(); the executor must call fit first")
        for record, decision in with_removals(self.workdir / self.name, shard.index, shard.name, records,
                                              self.name):
            if decision is not None:
                self._apply(record, decision)
            yield record

    def _apply(self, record: dict, decision: dict) -> None:
        """Cut the pieces (or reject, text untouched) and record what went and what it duplicated."""
        text = record["text"]
        pieces = decision["pieces"]
        meta_of(record)["sentence_dedup"] = {
            "removed_chars": sum(end - start for start, end, _ in pieces),
            "removed": [{"text": text[start:end], "duplicate_of": kept} for start, end, kept in pieces]}
        if decision["reject"]:
            record["duplicate_of"] = _main_source(pieces)
            reject(record, self.name, REJECT_RULE)
            return
        kept, position = [], 0
        for start, end, _ in pieces:
            kept.append(text[position:start])
            position = end
        kept.append(text[position:])
        record["text"] = "".join(kept)


def _main_source(pieces: list[list]) -> str:
    """The document holding most of what a rejected document duplicated (ties: the smaller id)."""
    chars: dict[str, int] = defaultdict(int)
    for start, end, kept in pieces:
        chars[kept] += end - start
    return min(chars, key=lambda kept: (-chars[kept], kept))
