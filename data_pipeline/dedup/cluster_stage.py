"""What exact and MinHash document dedup share: observe -> on-disk band keys, fit -> clusters and the member
each keeps, run -> mark the others `<stage>:duplicate` with `duplicate_of`.

Per shard, under `workdir/<stage name>/shard-NNNNN/`:
  band-BBB.npy   sorted (key, item) per LSH band (bucket_store)
  docs.npy       quality_score (NaN when absent) and text length per record, in arrival order
  ids.jsonl      the record ids, one JSON string per line
  removals.json  written by fit: {"<row>": [id, duplicate_of]} for each record of the shard to remove
  cluster-sizes.json  written by fit: {"<row>": [id, size]} for each kept member of a cluster of 2 or more;
                 run() writes size (the original documents it stands for, rehydration weight) into
                 meta.dup_cluster_size, and keeps an earlier stage's value or 1 on every other kept record
`run` must see the records `observe` saw, in the same order (the executor contract); it checks the ids.
"""

from __future__ import annotations

import json
import shutil
from array import array
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_pipeline.dedup.bucket_store import (
    IdWriter,
    band_entries,
    key_ranges,
    load_ids,
    locate,
    range_collisions,
    read_doc_stats,
    read_summary,
    shard_dir,
    table_length,
    with_removals,
    write_band_files,
    write_removals,
    write_summary,
)
from data_pipeline.dedup.clusters import CLUSTER_SIZE, DOC_STATS, doc_stats, rank_key
from data_pipeline.dedup.components import DiskComponents
from data_pipeline.dedup.tasks import TaskMap, serial_map
from data_pipeline.stage import CorpusStage, ShardInfo, meta_of, reject, text_of

DUPLICATE_RULE = "duplicate"


# observe() hands records to the keyer in batches of this many (or fewer, once their texts reach
# OBSERVE_BATCH_CHARS): per-document numpy overhead is paid per batch, and the batch bounds the scratch memory
# (MinHash: ~60-75 bytes per character of the batch, measured, so ~20 MiB; a longer document is one batch).
OBSERVE_BATCH_DOCS = 512
OBSERVE_BATCH_CHARS = 1 << 18


class ShardKeyer:
    """Band keys of the records of one shard, in order. One per observe() call, so shards can be observed
    concurrently by one stage object."""

    def keys(self, records: list[dict]) -> list[np.ndarray | None]:
        """Per record, in order: uint64[num_bands], or None when it has nothing to compare (e.g. no
        tokens). Called with consecutive batches of the shard's records."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush side files."""


class ClusterDedupStage(CorpusStage):
    """Base of document-level dedup. Subclasses give each record its band keys (`doc_keys`) and may check
    a colliding pair before it is merged (`same_cluster`)."""

    rule = DUPLICATE_RULE

    def __init__(self, name: str, num_bands: int, merge_memory_mb: int):
        self.name = name
        self.num_bands = num_bands
        self.merge_memory_bytes = merge_memory_mb << 20
        self.workdir: Path | None = None
        self.summary: dict = {}

    # -- subclass hooks -------------------------------------------------------------------------------------
    def shard_keyer(self, shard_root: Path) -> ShardKeyer:
        """A fresh per-shard object giving each record its band keys (it may write side files)."""
        raise NotImplementedError

    def same_cluster(self, a: int, b: int, root: Path, offsets: np.ndarray) -> bool:
        """Whether two colliding global rows really are duplicates (verification); default: trust the key."""
        return True

    # -- CorpusStage -----------------------------------------------------------------------------------------
    def observe(self, records: Iterator[dict], shard: ShardInfo, workdir: Path) -> None:
        shard_root = shard_dir(workdir / self.name, shard.index)
        shard_root.mkdir(parents=True, exist_ok=True)
        stats, rows, keys = [], [], []
        keyer = self.shard_keyer(shard_root)
        with IdWriter(shard_root) as ids:
            for first_row, batch in _batches(records):
                for record in batch:
                    ids.write(record)
                    stats.append(doc_stats(record))
                for row, doc_keys in enumerate(keyer.keys(batch), start=first_row):
                    if doc_keys is not None:
                        rows.append(row)
                        keys.append(doc_keys)
        keyer.close()
        np.save(shard_root / "docs.npy", np.array(stats, dtype=DOC_STATS))
        band_keys = np.stack(keys) if keys else np.empty((0, self.num_bands), dtype=np.uint64)
        write_band_files(workdir / self.name, shard.index, np.array(rows, dtype=np.uint32), band_keys)

    def fit(self, workdir: Path, num_shards: int, map_tasks: TaskMap = serial_map) -> None:
        """Every pass is a list of tasks (`map_tasks`), each bounded by merge_memory_mb: edges per (band, key
        range), the connected-component rounds per node range, removals per range of cluster roots, then
        each shard's removal files."""
        root = workdir / self.name
        self.workdir = workdir
        offsets = np.cumsum([0] + [table_length(shard_dir(root, s) / "docs.npy") for s in range(num_shards)])
        graph = DiskComponents(root / "components", int(offsets[-1]), self.merge_memory_bytes)
        ranges = [(band, lo, hi) for band in range(self.num_bands)
                  for lo, hi in key_ranges(band_entries(root, num_shards, band), self.merge_memory_bytes)]
        candidate_pairs = sum(map_tasks(self._bucket_edges, [(root, offsets, graph, task, *r)
                                                             for task, r in enumerate(ranges)]))
        graph.solve(map_tasks)
        parts = root / "removal-parts"
        shutil.rmtree(parts, ignore_errors=True)
        counts = map_tasks(self._cluster_removals, [(root, offsets, graph, part) for part in range(graph.parts)])
        graph.remove()
        map_tasks(_write_shard_removals, [(root, shard) for shard in range(num_shards)])
        shutil.rmtree(parts, ignore_errors=True)
        self.summary = {"candidate_pairs": candidate_pairs, "merged_pairs": sum(m for _, m in counts),
                        "removed": sum(r for r, _ in counts)}
        write_summary(root, self.summary)

    def _bucket_edges(self, root: Path, offsets: np.ndarray, graph: DiskComponents, task: int, band: int,
                      lo: int, hi: int) -> int:
        """Task: the edges of one key range of one band; returns the pairs it compared. Edges come from each
        bucket alone (no corpus-wide state): a row joins the first earlier sub-cluster leader of the bucket it
        verifies against, else leads one."""
        edges = graph.edge_writer(f"task-{task:06d}")
        # Edges gather in two flat int64 arrays and go to the writer a chunk at a time: handing it each
        # bucket's few edges as three small numpy arrays kept ~50 bytes of array objects per array until
        # the writer's buffer (merge_memory_mb/128 pairs) filled: the driver's growth with the corpus, found
        # with tracemalloc (2.6 MiB in 54k blocks at np.r_ at 20k documents, 0.6 MiB at 5k).
        joined = (array("q"), array("q"))
        candidate_pairs = 0
        try:
            for group in range_collisions(root, offsets, band, lo, hi):
                leaders: list[int] = []
                for row in (int(r) for r in group):
                    for leader in leaders:
                        candidate_pairs += 1
                        if self.same_cluster(leader, row, root, offsets):
                            joined[0].append(leader)
                            joined[1].append(row)
                            break
                    else:
                        leaders.append(row)
                if len(joined[0]) >= graph.chunk:
                    edges.add(*(np.frombuffer(j, dtype=np.int64) for j in joined))
                    joined = (array("q"), array("q"))
        finally:
            self.release()
        edges.add(*(np.frombuffer(j, dtype=np.int64) for j in joined))
        edges.close()
        return candidate_pairs

    def release(self) -> None:
        """Close what same_cluster opened (a task's files)."""

    def fit_summary(self, workdir: Path) -> dict:
        """The corpus-level counts of the last fit under `workdir` (also after a resumed run skipped fit)."""
        return read_summary(workdir / self.name)

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        if self.workdir is None:
            raise RuntimeError(f"{self.name}: run() before fit(); the executor must call fit first")
        root = self.workdir / self.name
        sizes_path = shard_dir(root, shard.index) / "cluster-sizes.json"
        sizes = json.loads(sizes_path.read_text()) if sizes_path.exists() else {}
        for row, (record, kept_id) in enumerate(with_removals(root, shard.index, shard.name, records, self.name)):
            if kept_id is not None:
                record["duplicate_of"] = kept_id
                reject(record, self.name, self.rule)
            else:
                meta = meta_of(record)
                meta[CLUSTER_SIZE] = sizes[str(row)][1] if str(row) in sizes else int(meta.get(CLUSTER_SIZE, 1))
            yield record

    # -- helpers ---------------------------------------------------------------------------------------------
    def _cluster_removals(self, root: Path, offsets: np.ndarray, graph: DiskComponents, part: int) -> tuple[int, int]:
        """Task: keep the best member of every cluster whose root lies in partition `part`; write the removed
        rows and the kept members' sizes per shard (removal-parts/shard-S/part-P.json). Returns (removed,
        merges = members - clusters)."""
        clusters = graph.read_clusters(part)
        members = np.fromiter((row for rows in clusters for row in rows), np.int64)
        ids = load_ids(root, members, offsets)
        stats = dict(zip(members.tolist(), read_doc_stats(root, members, offsets)))
        removals: dict[int, dict[str, list]] = defaultdict(dict)
        kept_sizes: dict[int, int] = {}  # kept row -> original documents it stands for (its own included)
        removed = merges = 0
        try:
            for rows in clusters:
                merges += len(rows) - 1
                ranked = sorted(rows, key=lambda row: rank_key(stats[row], ids[row]))
                for row, kept in self._split_cluster(ranked, root, offsets):
                    removals[locate(offsets, row)[0]][str(locate(offsets, row)[1])] = [ids[row], ids[kept]]
                    size = int(stats[row]["cluster_size"])
                    kept_sizes[kept] = kept_sizes.get(kept, int(stats[kept]["cluster_size"])) + size
                    removed += 1
        finally:
            self.release()
        sizes: dict[int, dict[str, list]] = defaultdict(dict)
        for row, size in kept_sizes.items():  # in the order the kept members first removed a row
            shard, local = locate(offsets, row)
            sizes[shard][str(local)] = [ids[row], size]
        for shard in sorted(set(removals) | set(sizes)):
            path = root / "removal-parts" / f"shard-{shard:05d}" / f"part-{part:05d}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps([removals.get(shard, {}), sizes.get(shard, {})], ensure_ascii=False))
        return removed, merges

    def _split_cluster(self, ranked: list[int], root: Path, offsets: np.ndarray) -> Iterator[tuple[int, int]]:
        """(removed, kept) pairs of one cluster ranked best first. The best member stays and takes every member
        that really is its near-duplicate; members that only joined through a chain (A~B, B~C, A!~C) form the
        next round, so every removed record is a true duplicate of the one named in its duplicate_of."""
        while ranked:
            kept, left = ranked[0], []
            for row in ranked[1:]:
                if self.same_cluster(kept, row, root, offsets):
                    yield row, kept
                else:
                    left.append(row)
            ranked = left


def _write_shard_removals(root: Path, shard: int) -> None:
    """Task: shard-NNNNN/removals.json and cluster-sizes.json from the parts the cluster tasks wrote, in
    partition order (= the order of the roots, as one pass over all clusters would write them)."""
    removals: dict[str, list] = {}
    sizes: dict[str, list] = {}
    for path in sorted((root / "removal-parts" / f"shard-{shard:05d}").glob("part-*.json")):
        part_removals, part_sizes = json.loads(path.read_text())
        removals.update(part_removals)
        sizes.update(part_sizes)
    write_removals(root, shard, removals)
    (shard_dir(root, shard) / "cluster-sizes.json").write_text(json.dumps(sizes))


def _batches(records: Iterator[dict]) -> Iterator[tuple[int, list[dict]]]:
    """(row of the first record, consecutive records) in batches of OBSERVE_BATCH_DOCS / _CHARS."""
    batch: list[dict] = []
    chars = first_row = 0
    for record in records:
        batch.append(record)
        chars += len(text_of(record))
        if len(batch) >= OBSERVE_BATCH_DOCS or chars >= OBSERVE_BATCH_CHARS:
            yield first_row, batch
            first_row += len(batch)
            batch, chars = [], 0
    if batch:
        yield first_row, batch
