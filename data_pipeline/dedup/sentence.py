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

Per shard under workdir/<name>/shard-NNNNN/: spans.npy (row, start, end character offsets per candidate span,
12 bytes each), band-000.npy (sorted span hashes), docs.npy (quality, length), ids.jsonl; fit adds
removals.json {"<row>": [id, {"pieces": [[start, end, duplicate_of], ...], "reject": bool}]}.
"""

from __future__ import annotations

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
from data_pipeline.dedup.clusters import DOC_STATS, doc_stats, rank_key
from data_pipeline.dedup.config import SentenceDedupConfig
from data_pipeline.dedup.text import normalize_for_hash, sentence_spans
from data_pipeline.stage import CorpusStage, ShardInfo, meta_of, reject, text_of

SPAN = np.dtype([("row", np.uint32), ("start", np.uint32), ("end", np.uint32)])
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
        entries, keys, stats = array("I"), array("Q"), []  # 12 + 8 bytes per span, as the files hold them
        with IdWriter(root) as ids:
            for row, record in enumerate(records):
                ids.write(record)
                stats.append(doc_stats(record))
                for start, end, key in self.spans(text_of(record)):
                    entries.extend((row, start, end))
                    keys.append(key)
        np.save(root / "spans.npy", np.frombuffer(entries, dtype=np.uint32).view(SPAN))
        np.save(root / "docs.npy", np.array(stats, dtype=DOC_STATS))
        band_keys = np.frombuffer(keys, dtype=np.uint64).reshape(-1, 1)
        write_band_files(workdir / self.name, shard.index, np.arange(len(keys), dtype=np.uint32), band_keys)

    def fit(self, workdir: Path, num_shards: int, find_collisions: CollisionFinder = local_collisions) -> None:
        root = workdir / self.name
        self.workdir = workdir
        spans = [np.load(shard_dir(root, s) / "spans.npy", mmap_mode="r") for s in range(num_shards)]
        docs = [np.load(shard_dir(root, s) / "docs.npy", mmap_mode="r") for s in range(num_shards)]
        span_offsets = np.cumsum([0] + [len(s) for s in spans])
        doc_offsets = np.cumsum([0] + [len(d) for d in docs])
        # Only the occurrences of boilerplate spans are held in RAM: (group, global doc row, start, end).
        occurrences: list[tuple[int, int, int, int]] = []
        groups = 0
        for _band, items in find_collisions(root, span_offsets, 1, self.merge_memory_bytes):
            members = []
            for item in items.tolist():
                shard, local = locate(span_offsets, item)
                span = spans[shard][local]
                members.append((int(doc_offsets[shard]) + int(span["row"]), int(span["start"]), int(span["end"])))
            if len({doc for doc, _, _ in members}) > self.cfg.max_docs:
                occurrences += [(groups, *member) for member in members]
                groups += 1
        decisions = self._decide(occurrences, groups, root, docs, doc_offsets)
        removals: dict[int, dict[str, list]] = defaultdict(dict)
        for row, (record_id, decision) in decisions.items():
            shard, local = locate(doc_offsets, row)
            removals[shard][str(local)] = [record_id, decision]
        write_removals(root, num_shards, removals)
        cut = [d for _, d in decisions.values() if not d["reject"]]
        self.summary = {
            "candidate_spans": int(span_offsets[-1]),
            "boilerplate_spans": groups,
            "docs_cut": len(cut),
            "docs_rejected": len(decisions) - len(cut),
            "removed_chars": sum(end - start for d in cut for start, end, _ in d["pieces"]),
        }
        write_summary(root, self.summary)

    def _decide(self, occurrences: list[tuple[int, int, int, int]], groups: int, root: Path,
                docs: list[np.ndarray], doc_offsets: np.ndarray) -> dict[int, tuple[str, dict]]:
        """Per document that loses text: (id, {"pieces": [[start, end, duplicate_of]], "reject": bool}).
        Documents are visited best first (keep_order), so each one's fate depends only on better ones."""
        involved = sorted({doc for _, doc, _, _ in occurrences})
        ids = load_ids(root, np.array(involved, dtype=np.int64), doc_offsets)
        stats = {doc: docs[shard][local] for doc in involved for shard, local in [locate(doc_offsets, doc)]}
        by_doc: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for group, doc, start, end in occurrences:
            by_doc[doc].append((start, end, group))
        keeper: list[str | None] = [None] * groups  # id of the document that keeps each boilerplate span
        decisions: dict[int, tuple[str, dict]] = {}
        for doc in sorted(involved, key=lambda d: rank_key(stats[d], ids[d])):
            spans = sorted(by_doc[doc])
            pieces = _cut_pieces([(s, e, keeper[g]) for s, e, g in spans if keeper[g] is not None])
            length = int(stats[doc]["length"])
            left = length - sum(e - s for s, e, _ in pieces)
            rejected = left < self.cfg.min_keep_chars or left < self.cfg.min_keep_fraction * length
            if not rejected:
                for start, end, group in spans:  # keep what is still whole here, for the documents after it
                    if keeper[group] is None and not any(s < end and start < e for s, e, _ in pieces):
                        keeper[group] = ids[doc]
            if pieces:
                decisions[doc] = (ids[doc], {"pieces": [list(p) for p in pieces], "reject": rejected})
        return decisions

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


def _cut_pieces(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Disjoint (start, end, duplicate_of) pieces covering `spans` (sorted by start; they may overlap). Where
    spans overlap, the part already covered stays with the earlier span's piece; each piece lies inside one
    span, so its text is inside that span's keeper."""
    pieces: list[tuple[int, int, str]] = []
    for start, end, kept in spans:
        if pieces and start < pieces[-1][1]:
            start = pieces[-1][1]
            if end <= start:
                continue
        if pieces and start == pieces[-1][1] and kept == pieces[-1][2]:
            pieces[-1] = (pieces[-1][0], end, kept)
        else:
            pieces.append((start, end, kept))
    return pieces


def _main_source(pieces: list[list]) -> str:
    """The document holding most of what a rejected document duplicated (ties: the smaller id)."""
    chars: dict[str, int] = defaultdict(int)
    for start, end, kept in pieces:
        chars[kept] += end - start
    return min(chars, key=lambda kept: (-chars[kept], kept))
