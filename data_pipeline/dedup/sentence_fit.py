"""Sentence dedup's fit as passes of tasks whose memory is bounded by merge_memory_mb, not by the corpus.

The decision rule (sentence.py): documents holding a boilerplate span (one in more than max_docs documents)
are visited best first (clusters.keep_order, then the smaller row); each one loses the spans whose keeper —
the first better document that kept it — exists, is rejected when too little is left, and otherwise keeps
every boilerplate span still whole in it. The single-process version held every occurrence, every involved
document's id and a keeper per span in RAM; here:

  1. boilerplate (one task per range of span hashes): every shard's `span-keys.npy` rows in the range,
     grouped by hash; spans in more than max_docs documents get a dense number inside the range and their
     occurrences (row, start, end, range, number) go to the file of their document range;
  2. ranking (one task per range of document rows): that range's occurrences, with each document's rank
     key (quality, length, id) read from docs.npy / ids.jsonl, written best first as one sorted run;
  3. deciding (one task): a k-way merge of the runs visits the involved documents best first; the keeper of
     each boilerplate span is two int64 in a table on disk (offset and length of the keeper's id in an
     append-only file), read and written with positioned I/O, so this task holds one document at a time plus
     the merge's read buffers; its decisions are spooled to one file per shard;
  4. removals (one task per shard): the shard's decisions, in the order they were made, to removals.json.

Only step 3 is sequential (a document's fate depends on every better document); it does positioned reads per
boilerplate occurrence, not per span or document of the corpus. The result is the single-process one, entry
for entry (tests/data_pipeline/dedup/test_sentence_fit.py).
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_pipeline.dedup.bucket_store import (
    key_ranges,
    load_ids,
    read_doc_stats,
    read_key_range,
    shard_dir,
    table_length,
    write_removals,
)
from data_pipeline.dedup.clusters import rank_key
from data_pipeline.dedup.config import SentenceDedupConfig
from data_pipeline.dedup.tasks import TaskMap

SPAN_FILE = "span-keys.npy"
SPAN_KEY = np.dtype([("key", np.uint64), ("row", np.uint32), ("start", np.uint32), ("end", np.uint32)])
OCCURRENCE = np.dtype([("row", np.int64), ("start", np.int64), ("end", np.int64), ("group", np.int64)])
NO_KEEPER = -1
# Python objects per occurrence while ranking a range of documents (tuples, ints, the id): sizes the range.
RANK_BYTES_PER_ROW = 512


def fit_sentence_dedup(root: Path, num_shards: int, cfg: SentenceDedupConfig, memory_bytes: int,
                       map_tasks: TaskMap) -> dict:
    """Write every shard's removals.json; return the fit summary."""
    work = root / "fit"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    spans = sum(table_length(shard_dir(root, s) / SPAN_FILE) for s in range(num_shards))
    offsets = np.cumsum([0] + [table_length(shard_dir(root, s) / "docs.npy") for s in range(num_shards)])
    doc_span = max(1, memory_bytes // RANK_BYTES_PER_ROW)
    ranges = key_ranges(spans, memory_bytes, entry_bytes=4 * SPAN_KEY.itemsize)
    groups = map_tasks(_boilerplate_task, [(root, work, offsets, cfg.max_docs, doc_span, task, lo, hi)
                                           for task, (lo, hi) in enumerate(ranges)])
    parts = sorted(int(p.name.split("-")[1]) for p in (work / "occurrences").glob("part-*"))
    map_tasks(_rank_task, [(root, work, offsets, part) for part in parts])
    # one sequential task: on a Ray cluster it runs on a worker, like the others
    decided = map_tasks(_decide_task, [(work, offsets, cfg, [0, *np.cumsum(groups).tolist()], parts,
                                        memory_bytes)])[0]
    map_tasks(_removals_task, [(root, work, shard) for shard in range(num_shards)])
    shutil.rmtree(work, ignore_errors=True)
    return {"candidate_spans": int(spans), "boilerplate_spans": int(sum(groups)), **decided}


def _boilerplate_task(root: Path, work: Path, offsets: np.ndarray, max_docs: int, doc_span: int, task: int,
                      lo: int, hi: int) -> int:
    """Occurrences of the spans with hash in [lo, hi) found in more than max_docs documents, to
    occurrences/part-P/range-TTTTTT.npy by document range P; returns how many such spans (group numbers
    0..n-1 inside this range, in hash order)."""
    parts = []
    for shard in range(len(offsets) - 1):
        part = read_key_range(shard_dir(root, shard) / SPAN_FILE, lo, hi)
        if len(part):
            parts.append((part, int(offsets[shard])))
    if not parts:
        return 0
    keys = np.concatenate([p["key"] for p, _ in parts])
    rows = np.concatenate([p["row"].astype(np.int64) + base for p, base in parts])
    starts = np.concatenate([p["start"].astype(np.int64) for p, _ in parts])
    ends = np.concatenate([p["end"].astype(np.int64) for p, _ in parts])
    del parts
    order = np.lexsort((starts, rows, keys))
    keys, rows, starts, ends = keys[order], rows[order], starts[order], ends[order]
    new_key = np.r_[True, keys[1:] != keys[:-1]]
    new_doc = new_key | np.r_[True, rows[1:] != rows[:-1]]
    group_of = np.cumsum(new_key) - 1
    docs_per_group = np.bincount(group_of, weights=new_doc)
    boilerplate = docs_per_group > max_docs
    if not boilerplate.any():
        return 0
    number = np.cumsum(boilerplate) - 1  # dense number of each boilerplate group inside this range
    hit = boilerplate[group_of]
    table = np.empty(int(hit.sum()), dtype=OCCURRENCE)
    table["row"], table["start"], table["end"] = rows[hit], starts[hit], ends[hit]
    table["group"] = number[group_of[hit]]
    part_of = table["row"] // doc_span
    for part in np.unique(part_of).tolist():
        directory = work / "occurrences" / f"part-{part:06d}"
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / f"range-{task:06d}.npy", table[part_of == part])
    return int(boilerplate.sum())


def _rank_task(root: Path, work: Path, offsets: np.ndarray, part: int) -> None:
    """One range of documents' occurrences, best document first, as runs/part-P.jsonl:
    [[-quality, -length, id, row], [[start, end, range, number], ...]] per document, spans by start."""
    spans: dict[int, list[list[int]]] = defaultdict(list)
    for path in sorted((work / "occurrences" / f"part-{part:06d}").glob("range-*.npy")):
        task = int(path.stem.split("-")[1])
        for row, start, end, number in np.load(path).tolist():
            spans[row].append([start, end, task, number])
    rows = np.array(sorted(spans), dtype=np.int64)
    ids = load_ids(root, rows, offsets)
    stats = read_doc_stats(root, rows, offsets)
    ranked = sorted((list(rank_key(stat, ids[row])) + [row] for row, stat in zip(rows.tolist(), stats)))
    (work / "runs").mkdir(exist_ok=True)
    with open(work / "runs" / f"part-{part:06d}.jsonl", "w", encoding="utf-8") as out:
        for key in ranked:
            out.write(json.dumps([key, sorted(spans[key[3]])], ensure_ascii=False) + "\n")


def _read_run(path: Path) -> Iterator[list]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


class _KeeperTable:
    """Per boilerplate span (global number), the id of the document keeping it, on disk: (offset, length) of
    the id's UTF-8 bytes in an append-only file, (-1, 0) while none keeps it."""

    def __init__(self, work: Path, count: int):
        self.table = open(work / "keepers.bin", "w+b")
        block = np.full((max(1, min(count, 1 << 16)), 2), [NO_KEEPER, 0], dtype=np.int64)
        for start in range(0, count, len(block)):
            block[: min(len(block), count - start)].tofile(self.table)
        self.table.flush()
        self.ids = open(work / "keeper-ids.bin", "w+b")
        self.end = 0

    def get(self, number: int) -> str | None:
        offset, length = np.frombuffer(os.pread(self.table.fileno(), 16, number * 16), dtype=np.int64).tolist()
        return None if offset == NO_KEEPER else os.pread(self.ids.fileno(), length, offset).decode("utf-8")

    def add_id(self, record_id: str) -> tuple[int, int]:
        data = record_id.encode("utf-8")
        os.pwrite(self.ids.fileno(), data, self.end)
        self.end += len(data)
        return self.end - len(data), len(data)

    def set(self, number: int, where: tuple[int, int]) -> None:
        os.pwrite(self.table.fileno(), np.array(where, dtype=np.int64).tobytes(), number * 16)

    def close(self) -> None:
        self.table.close()
        self.ids.close()


class _DecisionSpool:
    """Decisions appended to decisions/shard-SSSSS.jsonl in the order they are made, buffered up to a
    memory budget."""

    def __init__(self, work: Path, offsets: np.ndarray, memory_bytes: int):
        self.dir, self.offsets, self.budget = work / "decisions", offsets, memory_bytes // 4
        shutil.rmtree(self.dir, ignore_errors=True)  # a retried task starts afresh
        self.dir.mkdir()
        self.pending: dict[int, list[str]] = defaultdict(list)
        self.size = 0

    def add(self, row: int, record_id: str, decision: dict) -> None:
        shard = int(np.searchsorted(self.offsets, row, side="right") - 1)
        line = json.dumps([row - int(self.offsets[shard]), record_id, decision], ensure_ascii=False)
        self.pending[shard].append(line)
        self.size += len(line) + 100
        if self.size >= self.budget:
            self.flush()

    def flush(self) -> None:
        for shard, lines in self.pending.items():
            with open(self.dir / f"shard-{shard:05d}.jsonl", "a", encoding="utf-8") as out:
                out.write("\n".join(lines) + "\n")
        self.pending, self.size = defaultdict(list), 0


def _decide_task(work: Path, offsets: np.ndarray, cfg: SentenceDedupConfig, range_base: list[int],
                 parts: list[int], memory_bytes: int) -> dict:
    """Visit the involved documents best first; spool each one's decision; return the counts."""
    keepers = _KeeperTable(work, range_base[-1])
    spool = _DecisionSpool(work, offsets, memory_bytes)
    cut = rejected_docs = removed_chars = 0
    runs = [_read_run(work / "runs" / f"part-{part:06d}.jsonl") for part in parts]
    try:
        for (_, negative_length, record_id, row), spans in heapq.merge(*runs, key=lambda entry: entry[0]):
            numbers = [range_base[task] + number for _, _, task, number in spans]
            kept_by = [keepers.get(n) for n in numbers]
            pieces = cut_pieces([(s, e, k) for (s, e, _, _), k in zip(spans, kept_by) if k is not None])
            length = -negative_length
            left = length - sum(e - s for s, e, _ in pieces)
            rejected = left < cfg.min_keep_chars or left < cfg.min_keep_fraction * length
            if not rejected:
                mine: tuple[int, int] | None = None
                for (start, end, _, _), number, keeper in zip(spans, numbers, kept_by):
                    if keeper is None and not any(s < end and start < e for s, e, _ in pieces):
                        mine = mine or keepers.add_id(record_id)
                        keepers.set(number, mine)
                        kept_by = [record_id if n == number else k for n, k in zip(numbers, kept_by)]
            if pieces:
                spool.add(row, record_id, {"pieces": [list(p) for p in pieces], "reject": rejected})
                if rejected:
                    rejected_docs += 1
                else:
                    cut += 1
                    removed_chars += sum(e - s for s, e, _ in pieces)
    finally:
        keepers.close()
    spool.flush()
    return {"docs_cut": cut, "docs_rejected": rejected_docs, "removed_chars": removed_chars}


def _removals_task(root: Path, work: Path, shard: int) -> None:
    path = work / "decisions" / f"shard-{shard:05d}.jsonl"
    removals: dict[str, list] = {}
    if path.exists():
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                local, record_id, decision = json.loads(line)
                removals[str(local)] = [record_id, decision]
    write_removals(root, shard, removals)


def cut_pieces(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
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
