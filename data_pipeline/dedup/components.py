"""Connected components of a graph over 0..n-1 whose labels and edges live on disk, in memory bounded by
`memory_bytes` and not by n or the number of edges (the single-process union-find this replaced held one
int64 per record, plus copies, for the whole corpus).

Min-label propagation with hooking and pointer jumping, as partitioned joins: nodes are cut into ranges of
`span` consecutive indices ("partitions"); labels are a dense int64 file (8 bytes per node, on disk; a new
version per step, so a retried task recomputes its output from unchanged input), read and written one
partition at a time. Each edge is stored in both directions, in the file of the partition
that holds its destination. One round:
  1. every node i whose label L[i] != i asks the partition holding L[i] for L[L[i]] (pointer jumping);
  2. each partition q loads its labels and answers its edges (src -> L[dst]) and requests (i -> L[L[i]]),
     writing each answer to the file of the partition that holds the asking node;
  3. each partition p loads its labels and takes the minimum of each node's answers; a node whose label
     dropped hands the new label to its old label (hooking its whole tree, so a path needs O(log) rounds).
Labels only decrease and are always a node of the same component, so at the fixed point (no label changed)
every node of a component carries the component's smallest node: exactly the root that union-find with "the
smaller index is the root" gives. Files are read in chunks of `chunk` pairs, so a partition's answers never
have to fit at once.

Each step is one task per partition (`tasks.TaskMap`: in-process, forked local processes or Ray); a task
writes what it sends to other partitions into a directory of its own (`<step>/from-PPPPP/part-QQQQQ.bin`),
so tasks never share a file they append to, and the next step's task q reads every `*/part-q.bin`. Every
step is a minimum (order-free), so the labels do not depend on how the tasks were scheduled.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_pipeline.dedup.tasks import TaskMap, serial_map

PAIR_BYTES = 16  # two int64 per stored pair


class PairWriter:
    """Pairs (first, second) appended to one file per partition of `key` under `directory` (one writer's own
    directory), buffered up to `buffer` pairs."""

    def __init__(self, directory: Path, span: int, buffer: int):
        self.dir, self.span, self.buffer = directory, span, buffer
        shutil.rmtree(directory, ignore_errors=True)  # a rerun of a task starts its output afresh
        directory.mkdir(parents=True)
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending_pairs = 0
        self.pairs = 0

    def add(self, key: np.ndarray, first: np.ndarray, second: np.ndarray) -> None:
        if len(key):
            self.pending.append((np.asarray(key, np.int64), np.asarray(first, np.int64), np.asarray(second, np.int64)))
            self.pending_pairs += len(key)
            if self.pending_pairs >= self.buffer:
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        key, first, second = (np.concatenate(c) for c in zip(*self.pending))
        self.pending, self.pending_pairs = [], 0
        parts = key // self.span
        order = np.argsort(parts, kind="stable")
        parts, pairs = parts[order], np.stack([first[order], second[order]], axis=1)
        bounds = np.flatnonzero(np.r_[True, parts[1:] != parts[:-1], True])
        for start, stop in zip(bounds[:-1], bounds[1:]):
            with open(self.dir / f"part-{int(parts[start]):05d}.bin", "ab") as out:
                pairs[start:stop].tofile(out)
        self.pairs += len(key)


def read_pairs(directory: Path, part: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every writer's pairs for partition `part`, `chunk` pairs at a time."""
    for path in sorted(directory.glob(f"*/part-{part:05d}.bin")):
        total = path.stat().st_size // PAIR_BYTES
        for start in range(0, total, chunk):
            pairs = np.fromfile(path, dtype=np.int64, count=2 * min(chunk, total - start),
                                offset=start * PAIR_BYTES).reshape(-1, 2)
            yield pairs[:, 0], pairs[:, 1]


class DiskComponents:
    """Edges through edge_writer() (any number of writers, e.g. one per task), then solve(map_tasks) and
    read_clusters(part) for each of `parts` partitions: the components of two or more nodes, by root.
    Holds only paths and sizes, so it is shipped to the tasks as it is."""

    def __init__(self, directory: Path, num_nodes: int, memory_bytes: int):
        self.dir, self.n = directory, int(num_nodes)
        self.span = max(1, memory_bytes // 32)  # a partition's labels (8 B/node) + its own scratch copies
        self.chunk = max(1, memory_bytes // 128)  # pairs per read: 16 B each, plus the temporaries of a step
        self.parts = max(1, -(-self.n // self.span))
        self.rounds = 0
        self._driver_edges: EdgeWriter | None = None

    def edge_writer(self, name: str) -> EdgeWriter:
        """A writer of edges for one task (`name` unique among the writers)."""
        return EdgeWriter(PairWriter(self.dir / "edges" / name, self.span, self.chunk))

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        """Edges a[k] -- b[k] written from this process (tests, small graphs)."""
        if self._driver_edges is None:
            self._driver_edges = self.edge_writer("driver")
        self._driver_edges.add(a, b)

    def _bounds(self, part: int) -> tuple[int, int]:
        return part * self.span, min(self.n, (part + 1) * self.span)

    # Labels are versioned: each step reads one file and writes its partition of the next, so a task that
    # is retried (Ray) recomputes the same output from the same input.
    def _labels(self, version: int) -> Path:
        return self.dir / f"labels-{version:06d}.bin"

    def _new_labels(self, version: int) -> None:
        with open(self._labels(version), "wb") as out:
            out.truncate(self.n * 8)
        stale = self._labels(version - 3)
        stale.unlink(missing_ok=True)

    def _read(self, part: int, version: int) -> np.ndarray:
        lo, hi = self._bounds(part)
        return np.fromfile(self._labels(version), dtype=np.int64, count=hi - lo, offset=lo * 8)

    def _write(self, part: int, labels: np.ndarray, version: int) -> None:
        with open(self._labels(version), "r+b") as out:  # partitions are disjoint byte ranges
            out.seek(self._bounds(part)[0] * 8)
            labels.tofile(out)

    def _writer(self, step: str, part: int) -> PairWriter:
        return PairWriter(self.dir / step / f"from-{part:05d}", self.span, self.chunk)

    # -- the steps, one task per partition ----------------------------------------------------------------
    def _init_labels(self, part: int, version: int) -> None:
        self._write(part, np.arange(*self._bounds(part), dtype=np.int64), version)

    def _ask(self, part: int, version: int) -> None:
        """Pointer jumping: node i (label L[i] != i) asks the partition of L[i] for L[L[i]]."""
        labels, lo = self._read(part, version), self._bounds(part)[0]
        ask = np.flatnonzero(labels != np.arange(*self._bounds(part)))
        out = self._writer("requests", part)
        out.add(labels[ask], ask + lo, labels[ask])  # (i, L[i]) stored at L[i]
        out.flush()

    def _answer(self, part: int, version: int) -> None:
        """Edges (src -> L[dst]) and requests (i -> L[L[i]]) of this partition, sent to the asking node's."""
        labels, lo = self._read(part, version), self._bounds(part)[0]
        out = self._writer("answers", part)
        for step in ("edges", "requests"):
            for src, dst in read_pairs(self.dir / step, part, self.chunk):
                out.add(src, src, labels[dst - lo])
        out.flush()

    def _take_minimum(self, part: int, version: int) -> bool:
        """Each node takes the smallest answer (labels version -> version + 1); a node whose label dropped
        hooks its old label to the new one (whole trees move, so a path needs O(log) rounds). True when a
        label changed."""
        labels, lo = self._read(part, version), self._bounds(part)[0]
        before = labels.copy()
        for node, label in read_pairs(self.dir / "answers", part, self.chunk):
            np.minimum.at(labels, node - lo, label)
        moved = np.flatnonzero(labels != before)
        out = self._writer("hooks", part)
        out.add(before[moved], before[moved], labels[moved])  # the old label takes it too
        out.flush()
        self._write(part, labels, version + 1)
        return bool(len(moved))

    def _hook(self, part: int, version: int) -> None:
        """Labels version -> version + 1: each hooked old label takes the new one."""
        labels = self._read(part, version)
        for node, label in read_pairs(self.dir / "hooks", part, self.chunk):
            np.minimum.at(labels, node - self._bounds(part)[0], label)
        self._write(part, labels, version + 1)

    def _send_members(self, part: int, version: int) -> None:
        """(root, node) of every non-root node, to the partition of its root."""
        labels, lo = self._read(part, version), self._bounds(part)[0]
        nodes = np.flatnonzero(labels != np.arange(*self._bounds(part)))
        out = self._writer("members", part)
        out.add(labels[nodes], labels[nodes], nodes + lo)
        out.flush()

    def solve(self, map_tasks: TaskMap = serial_map) -> None:
        """Label every node with its component's smallest node; then send members to their roots' partitions."""
        if self._driver_edges is not None:
            self._driver_edges.close()
        self.dir.mkdir(parents=True, exist_ok=True)
        version = 0
        self._new_labels(version)
        map_tasks(self._init_labels, [(p, version) for p in range(self.parts)])
        if any((self.dir / "edges").glob("*/part-*.bin")):
            while True:
                self.rounds += 1
                parts = [(p, version) for p in range(self.parts)]
                map_tasks(self._ask, parts)
                map_tasks(self._answer, parts)
                self._new_labels(version + 1)
                changed = any(map_tasks(self._take_minimum, parts))
                self._new_labels(version + 2)
                map_tasks(self._hook, [(p, version + 1) for p in range(self.parts)])
                version += 2
                for step in ("requests", "answers", "hooks"):
                    shutil.rmtree(self.dir / step, ignore_errors=True)
                if not changed:
                    break
        map_tasks(self._send_members, [(p, version) for p in range(self.parts)])

    def read_clusters(self, part: int) -> list[list[int]]:
        """The components of >= 2 nodes whose root lies in partition `part` (each sorted, root first), by
        root; after solve(). One partition's members are held at once (so one component must fit)."""
        pieces = list(read_pairs(self.dir / "members", part, self.chunk))
        if not pieces:
            return []
        roots = np.concatenate([r for r, _ in pieces])
        nodes = np.concatenate([n for _, n in pieces])
        order = np.lexsort((nodes, roots))
        roots, nodes = roots[order], nodes[order]
        starts = np.flatnonzero(np.r_[True, roots[1:] != roots[:-1]])
        return [[int(roots[s])] + nodes[s:e].tolist() for s, e in zip(starts, np.r_[starts[1:], len(roots)])]

    def clusters(self, map_tasks: TaskMap = serial_map) -> Iterator[list[list[int]]]:
        """solve(), then each partition's read_clusters() in order; removes the directory at the end."""
        self.solve(map_tasks)
        for part in range(self.parts):
            batch = self.read_clusters(part)
            if batch:
                yield batch
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class EdgeWriter:
    """Undirected edges of one writer; each is stored in both directions, at its destination's partition."""

    def __init__(self, pairs: PairWriter):
        self.pairs = pairs

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        self.pairs.add(np.r_[b, a], np.r_[a, b], np.r_[b, a])

    def close(self) -> None:
        self.pairs.flush()
