"""The benchmark n-gram index: sorted uint64 n-gram hashes and the benchmark each came from, in two .npy files
that every worker memory-maps (np.searchsorted on the mapping), so no process holds a Python object per n-gram
and a worker's resident share is the pages its lookups touch.

Built once per (benchmarks' paths, sizes and mtimes, n-gram sizes) under `directory/<key>.*`; a rebuild with
the same inputs reuses the files. The build holds the hashes of all benchmarks as numpy arrays (16 bytes per
n-gram before deduplication; all of CMMLU, dev + test: 0.49 M unique n-grams, 4.7 MiB of index files); `<key>.json`, written last, marks
the index complete and records per benchmark its items, n-grams and items too short to give an n-gram.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_pipeline.decontaminate.benchmarks import benchmark_name, item_texts
from data_pipeline.decontaminate.ngrams import NgramHasher
from data_pipeline.errors import UserError
from plumbing.atomic_write import atomic_open, atomic_write_json

INDEX_FORMAT = 1


@dataclass
class NgramIndex:
    hashes: np.ndarray  # sorted unique uint64 (memory-mapped)
    benchmark: np.ndarray  # uint16 per hash: position in `names`
    names: list[str]
    sizes: list[int]  # the n-gram lengths it holds (n_zh, n_en and those of whole short items)

    def lookup(self, ngrams: np.ndarray) -> np.ndarray:
        """Per n-gram: the benchmark id holding it, or -1."""
        if not len(self.hashes) or not len(ngrams):
            return np.full(len(ngrams), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.hashes, ngrams), len(self.hashes) - 1)
        found = self.hashes[at] == ngrams
        return np.where(found, self.benchmark[at].astype(np.int64), -1)


def index_key(paths: list[Path], hasher: NgramHasher, text_field: str) -> str:
    parts = [INDEX_FORMAT, hasher.ngram_zh, hasher.ngram_en, hasher.min_item_tokens, text_field]
    for path in paths:
        files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
        parts.append([str(path.resolve()), [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def build_index(paths: list[Path], directory: Path, hasher: NgramHasher, text_field: str = "text") -> Path:
    """Write the index of `paths` under `directory` unless it is there; returns its stem."""
    for path in paths:
        if not path.exists():
            raise UserError(f"benchmark {path} does not exist", "fix decontamination.benchmarks")
    names = [benchmark_name(p) for p in paths]
    if len(set(names)) != len(names):
        raise UserError(f"decontamination.benchmarks name one benchmark twice ({names})",
                        "give directories/files with distinct names: the name is the reject reason")
    stem = directory / index_key(paths, hasher, text_field)
    if stem.with_suffix(".json").is_file():
        return stem
    directory.mkdir(parents=True, exist_ok=True)
    all_hashes, all_ids, summary, sizes = [], [], {}, set(hasher.sizes)
    for b, path in enumerate(paths):
        items = short = 0
        runs = []
        for text in item_texts(path, text_field):
            grams, size = hasher.item_ngrams(text)
            items += 1
            short += not size
            sizes.add(size)
            runs.append(grams)
        hashes = np.unique(np.concatenate(runs)) if runs else np.empty(0, dtype=np.uint64)
        all_hashes.append(hashes)
        all_ids.append(np.full(len(hashes), b, dtype=np.uint16))
        summary[names[b]] = {"path": str(path), "items": items, "ngrams": int(len(hashes)), "items_too_short": short}
    hashes, ids = np.concatenate(all_hashes), np.concatenate(all_ids)
    order = np.lexsort((ids, hashes))  # by hash, the first benchmark first
    hashes, ids = hashes[order], ids[order]
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = hashes[1:] != hashes[:-1]  # an n-gram of two benchmarks names the first listed
    for part, values in (("hashes", hashes[first]), ("benchmarks", ids[first])):
        with atomic_open(stem.with_name(f"{stem.name}.{part}.npy")) as fh:
            np.save(fh, values)
    atomic_write_json(stem.with_suffix(".json"), {"names": names, "ngram_zh": hasher.ngram_zh,
                                                  "ngram_en": hasher.ngram_en, "sizes": sorted(sizes - {0}),
                                                  "benchmarks": summary}, indent=1)
    return stem


def open_index(stem: Path) -> NgramIndex:
    meta = json.loads(stem.with_suffix(".json").read_text())
    return NgramIndex(np.load(stem.with_name(f"{stem.name}.hashes.npy"), mmap_mode="r"),
                      np.load(stem.with_name(f"{stem.name}.benchmarks.npy"), mmap_mode="r"), meta["names"],
                      meta["sizes"])
