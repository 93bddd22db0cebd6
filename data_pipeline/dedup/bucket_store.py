"""On-disk LSH index: per shard and band, a file of (key, item) sorted by key; merged across shards in
key-range chunks, so no band of the corpus ever has to be in memory at once (datatrove's design).

Layout under `root/`:  shard-00003/band-007.npy  (structured array, fields `key` uint64 and `item` uint32,
sorted by key; `item` is the row of the entity — document or sentence — inside its shard), and
shard-00003/ids.jsonl (the record ids of the shard in arrival order, one JSON string per line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

KEY_ITEM = np.dtype([("key", np.uint64), ("item", np.uint32)])

def shard_dir(root: Path, shard_index: int) -> Path:
    return root / f"shard-{shard_index:05d}"


def write_band_files(root: Path, shard_index: int, items: np.ndarray, band_keys: np.ndarray) -> None:
    """band_keys: uint64[len(items), n_bands] of one shard's `items` -> one file per band, sorted by key."""
    directory = shard_dir(root, shard_index)
    directory.mkdir(parents=True, exist_ok=True)
    for band in range(band_keys.shape[1]):
        keys = band_keys[:, band]
        order = np.lexsort((items, keys))  # by key, then item: 13x faster than sorting the structured table
        table = np.empty(len(items), dtype=KEY_ITEM)
        table["key"] = keys[order]
        table["item"] = items[order]
        np.save(band_file(root, shard_index, band), table)


def band_file(root: Path, shard_index: int, band: int) -> Path:
    return shard_dir(root, shard_index) / f"band-{band:03d}.npy"


def key_ranges(entries: int, memory_bytes: int, entry_bytes: int = 2 * KEY_ITEM.itemsize) -> list[tuple[int, int]]:
    """[lo, hi) ranges of the uint64 key space small enough that one range of `entries` sorted entries,
    merged across shards (`entry_bytes` each with the copies made while sorting), fits in `memory_bytes`.
    Keys are hashes, so the ranges hold about equal counts."""
    chunks = max(1, -(-entries * entry_bytes // memory_bytes))
    bounds = [(2**64 * i) // chunks for i in range(chunks + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def table_length(path: Path) -> int:
    """Rows of a .npy table, from its header (maps the file, touches one page)."""
    return len(np.load(path, mmap_mode="r"))


def read_key_range(path: Path, lo: int, hi: int) -> np.ndarray:
    """The rows of a .npy table sorted by its `key` field with lo <= key < hi, copied out of a memory map
    that is closed again: a map kept open leaves every page read through it in the process's RSS (that was
    the driver's growth with the corpus, ~16 bands x 12 bytes per document), while a copy is freed with the
    range."""
    table = np.load(path, mmap_mode="r")
    keys = table["key"]
    start = int(np.searchsorted(keys, np.uint64(lo), side="left"))
    stop = len(keys) if hi >= 2**64 else int(np.searchsorted(keys, np.uint64(hi), side="left"))
    part = np.array(table[start:stop])
    del keys, table
    return part


def band_entries(root: Path, num_shards: int, band: int) -> int:
    return sum(table_length(band_file(root, s, band)) for s in range(num_shards) if band_file(root, s, band).exists())


def range_collisions(root: Path, item_offsets: np.ndarray, band: int, lo: int, hi: int) -> Iterator[np.ndarray]:
    """Each group (>= 2) of global item indices sharing a key in [lo, hi) of one band, in key order, items
    ascending. item_offsets[s] is the global index of shard s's first item."""
    keys_parts, item_parts = [], []
    for shard in range(len(item_offsets) - 1):
        path = band_file(root, shard, band)
        if path.exists():
            part = read_key_range(path, lo, hi)
            if len(part):
                keys_parts.append(part["key"])
                item_parts.append(part["item"].astype(np.int64) + int(item_offsets[shard]))
    if not keys_parts:
        return
    keys = np.concatenate(keys_parts)
    items = np.concatenate(item_parts)
    order = np.lexsort((items, keys))
    keys, items = keys[order], items[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
        yield items[start : start + size]


def local_collisions(root: Path, item_offsets: np.ndarray, num_bands: int,
                     memory_bytes: int) -> Iterator[tuple[int, np.ndarray]]:
    """(band, group) of every band and key range in order, in this process (evaluation, tests)."""
    for band in range(num_bands):
        for lo, hi in key_ranges(band_entries(root, len(item_offsets) - 1, band), memory_bytes):
            for group in range_collisions(root, item_offsets, band, lo, hi):
                yield band, group


class IdWriter:
    """Streams a shard's record ids to ids.jsonl (constant memory)."""

    def __init__(self, directory: Path):
        self.file = open(directory / "ids.jsonl", "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(str(record.get("id")), ensure_ascii=False) + "\n")

    def __enter__(self) -> IdWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


def locate(offsets: np.ndarray, row: int) -> tuple[int, int]:
    """(shard, row inside the shard) of a global row, given each shard's first global row."""
    shard = int(np.searchsorted(offsets, row, side="right") - 1)
    return shard, int(row - offsets[shard])


def load_ids(root: Path, rows: np.ndarray, offsets: np.ndarray) -> dict[int, str]:
    """ids of the given global rows, reading each shard's id file as far as needed and keeping only what is
    asked."""
    rows = np.asarray(rows, dtype=np.int64)
    shard_of = np.searchsorted(offsets, rows, side="right") - 1
    ids: dict[int, str] = {}
    for shard in np.unique(shard_of).tolist():
        wanted = set((rows[shard_of == shard] - offsets[shard]).tolist())
        last = max(wanted)
        with open(shard_dir(root, shard) / "ids.jsonl", encoding="utf-8") as lines:
            for local, line in enumerate(lines):
                if local in wanted:
                    ids[int(offsets[shard]) + local] = json.loads(line)
                if local >= last:
                    break
    return ids


def read_doc_stats(root: Path, rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """docs.npy rows (clusters.DOC_STATS) of the given global rows, in their order, through maps that are
    closed again (see read_key_range)."""
    rows = np.asarray(rows, dtype=np.int64)
    shard_of = np.searchsorted(offsets, rows, side="right") - 1
    out = None
    for shard in np.unique(shard_of).tolist():
        table = np.load(shard_dir(root, shard) / "docs.npy", mmap_mode="r")
        at = np.flatnonzero(shard_of == shard)
        if out is None:
            out = np.empty(len(rows), dtype=table.dtype)
        out[at] = table[rows[at] - offsets[shard]]
        del table
    return out if out is not None else np.empty(0)


def write_removals(root: Path, shard: int, removals: dict[str, list]) -> None:
    """{"<row>": [id, what to do]} of one shard -> shard-NNNNN/removals.json (every shard gets one)."""
    (shard_dir(root, shard) / "removals.json").write_text(json.dumps(removals, ensure_ascii=False))


def with_removals(root: Path, shard: int, shard_name: str, records: Iterator[dict],
                  stage: str) -> Iterator[tuple[dict, object]]:
    """(record, what fit decided for its row or None), checking that `run` replays `observe`'s records."""
    path = shard_dir(root, shard) / "removals.json"
    removals = json.loads(path.read_text()) if path.exists() else {}
    for row, record in enumerate(records):
        hit = removals.get(str(row))
        if hit is not None and str(record.get("id")) != hit[0]:
            raise RuntimeError(f"{stage}: shard {shard_name} row {row} is {record.get('id')!r} in run() but "
                               f"{hit[0]!r} in observe(); the executor must replay the same records in order")
        yield record, None if hit is None else hit[1]


def write_summary(root: Path, summary: dict) -> None:
    (root / "summary.json").write_text(json.dumps(summary, indent=2))


def read_summary(root: Path) -> dict:
    """What fit decided for the whole corpus, {} before the first fit."""
    path = root / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}
