"""Connected components of a graph over 0..n-1 whose labels and edges live on disk, in memory bounded by
`memory_bytes` and not by n or the number of edges (the single-process union-find this replaced held one
int64 per record, plus copies, for the whole corpus).

Min-label propagation with hooking and pointer jumping, as partitioned joins: nodes are cut into ranges of
`span` consecutive indices ("partitions"); labels are one dense int64 file (8 bytes per node, on disk), read
and written one partition at a time. Each edge is stored in both directions, in the file of the partition
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
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

PAIR_BYTES = 16  # two int64 per stored pair


class _PairFiles:
    """Pairs (first, second) appended to one file per partition of `key`, buffered up to `buffer` pairs."""

    def __init__(self, directory: Path, span: int, buffer: int):
        self.dir, self.span, self.buffer = directory, span, buffer
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending_pairs = 0
        self.pairs = 0

    def path(self, part: int) -> Path:
        return self.dir / f"part-{part:05d}.bin"

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
            with open(self.path(int(parts[start])), "ab") as out:
                pairs[start:stop].tofile(out)
        self.pairs += len(key)

    def chunks(self, part: int, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        path = self.path(part)
        if not path.exists():
            return
        total = path.stat().st_size // PAIR_BYTES
        for start in range(0, total, chunk):
            pairs = np.fromfile(path, dtype=np.int64, count=2 * min(chunk, total - start),
                                offset=start * PAIR_BYTES).reshape(-1, 2)
            yield pairs[:, 0], pairs[:, 1]


class DiskComponents:
    """add() edges, then clusters() yields the components of two or more nodes, smallest root first."""

    def __init__(self, directory: Path, num_nodes: int, memory_bytes: int):
        self.dir, self.n = directory, int(num_nodes)
        self.span = max(1, memory_bytes // 32)  # a partition's labels (8 B/node) + its own scratch copies
        self.chunk = max(1, memory_bytes // 128)  # pairs per read: 16 B each, plus the temporaries of a step
        self.parts = max(1, -(-self.n // self.span))
        self.edges = _PairFiles(directory / "edges", self.span, self.chunk)
        self.rounds = 0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        """Edges a[k] -- b[k] (global node indices)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        self.edges.add(np.r_[b, a], np.r_[a, b], np.r_[b, a])  # stored at the destination's partition

    def _bounds(self, part: int) -> tuple[int, int]:
        return part * self.span, min(self.n, (part + 1) * self.span)

    def _read(self, part: int) -> np.ndarray:
        lo, hi = self._bounds(part)
        return np.fromfile(self.labels, dtype=np.int64, count=hi - lo, offset=lo * 8)

    def _write(self, part: int, labels: np.ndarray) -> None:
        with open(self.labels, "r+b") as out:
            out.seek(self._bounds(part)[0] * 8)
            labels.tofile(out)

    def _solve(self) -> None:
        self.edges.flush()
        self.labels = self.dir / "labels.bin"
        with open(self.labels, "wb") as out:
            for part in range(self.parts):
                np.arange(*self._bounds(part), dtype=np.int64).tofile(out)
        if not self.edges.pairs:
            return
        while True:
            self.rounds += 1
            requests = _PairFiles(self.dir / "requests", self.span, self.chunk)
            for part in range(self.parts):
                labels = self._read(part)
                ask = np.flatnonzero(labels != np.arange(*self._bounds(part)))
                requests.add(labels[ask], ask + self._bounds(part)[0], labels[ask])  # (i, L[i]) at L[i]
            requests.flush()
            answers = _PairFiles(self.dir / "answers", self.span, self.chunk)
            for part in range(self.parts):
                labels, lo = self._read(part), self._bounds(part)[0]
                for store in (self.edges, requests):
                    for src, dst in store.chunks(part, self.chunk):
                        answers.add(src, src, labels[dst - lo])
            answers.flush()
            changed = False
            hooks = _PairFiles(self.dir / "hooks", self.span, self.chunk)
            for part in range(self.parts):
                labels, lo = self._read(part), self._bounds(part)[0]
                before = labels.copy()
                for node, label in answers.chunks(part, self.chunk):
                    np.minimum.at(labels, node - lo, label)
                moved = np.flatnonzero(labels != before)
                if len(moved):
                    changed = True
                    self._write(part, labels)
                    hooks.add(before[moved], before[moved], labels[moved])  # the old label takes it too
            hooks.flush()
            for part in range(self.parts):  # hooking whole trees, not one node a round: O(log) rounds on a path
                labels, lo = self._read(part), self._bounds(part)[0]
                before = labels.copy()
                for node, label in hooks.chunks(part, self.chunk):
                    np.minimum.at(labels, node - lo, label)
                if not np.array_equal(before, labels):
                    self._write(part, labels)
            if not changed:
                break
        for scratch in ("requests", "answers", "hooks"):
            shutil.rmtree(self.dir / scratch, ignore_errors=True)

    def clusters(self) -> Iterator[list[list[int]]]:
        """Per partition of roots, its components of >= 2 nodes (each sorted, root first), by root. One
        partition's members are held at once (so one component must fit)."""
        self._solve()
        members = _PairFiles(self.dir / "members", self.span, self.chunk)
        for part in range(self.parts):
            labels = self._read(part)
            nodes = np.flatnonzero(labels != np.arange(*self._bounds(part))) + self._bounds(part)[0]
            members.add(labels[nodes - self._bounds(part)[0]], labels[nodes - self._bounds(part)[0]], nodes)
        members.flush()
        for part in range(self.parts):
            parts = list(members.chunks(part, self.chunk))
            if not parts:
                continue
            roots = np.concatenate([r for r, _ in parts])
            nodes = np.concatenate([n for _, n in parts])
            order = np.lexsort((nodes, roots))
            roots, nodes = roots[order], nodes[order]
            starts = np.flatnonzero(np.r_[True, roots[1:] != roots[:-1]])
            yield [[int(roots[s])] + nodes[s:e].tolist() for s, e in zip(starts, np.r_[starts[1:], len(roots)])]
        shutil.rmtree(self.dir, ignore_errors=True)
