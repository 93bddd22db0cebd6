"""A source's per-document loader index: built once into files shared by every rank and restart, read by slices.

What the loader needs per document is where each training document's tokens start in the shuffled stream, where
they lie in the shards, and which documents are held out. Kept in every rank's memory that was ~60 bytes per
document (110 GiB per rank at 2e9 documents); here it is two int64 per document *on disk*, read a slice at a
time through the page cache, which the ranks of a node share (`OffsetFile`: why pread rather than a mapping). The files, in ``CACHE/<source>-<key>.*``:

* ``.train-ends.i64`` — ``ends[p]``: training tokens in base positions ``0..p`` of the source's shuffled order
  (position ``p`` holds document ``perm(p)``, `DocumentPermutation`); a held-out document counts 0 tokens,
  so the training stream skips it by itself;
* ``.train-starts.i64`` — the source token position (`TokenShardSet.read_source_tokens`) where the document at
  each base position starts: a window reads consecutive base positions, so its lookups are a few neighbouring
  pages of this file instead of one random ``.idx`` page per document (the shards' ``.idx`` files are not
  read after the build);
* ``.chunk-ends.i64`` — ``ends`` at the end of every chunk of `chunk_size` positions (at most
  `MAX_EPOCH_CHUNKS` chunks): each epoch shuffles these chunks, so it needs only this small array in memory;
* ``.validation-ids.i64`` / ``.validation-ends.i64`` — the held-out documents in index order and their
  cumulative tokens;
* ``.json`` — counts and the key's parts, written last: a cache without it is incomplete and rebuilt.

The key digests what the files' content depends on — the shards (manifest counts, tokenizer, and each ``.idx``'s
size and mtime), the seed, the source name and `validation_fraction` — so a change of any of them builds a new
index beside the old one. seq_len and the mixture weights do not change a source's document order, so
changing them reuses the index (the loader's fingerprint still refuses a checkpoint made with other ones).

One process builds (an exclusive ``flock`` on ``.lock``; the others wait, then read what it wrote), every file
through `plumbing.atomic_write`, in chunks of `BUILD_CHUNK` documents: memory stays bounded whatever the size.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_pipeline.formats.token_shard_set import TokenShardSet
from plumbing.atomic_write import atomic_open, atomic_write_json
from pretrain.data.errors import DataConfigError
from pretrain.data.offset_file import OFFSET_DTYPE, OffsetFile
from pretrain.data.permutation import DocumentPermutation, stream_keys, uniform_hash

log = logging.getLogger(__name__)

INDEX_FORMAT = 2
MAX_EPOCH_CHUNKS = 1 << 16
BUILD_CHUNK = 1 << 20
CACHE_DIR_NAME = "_loader_index"
_ORDER_STREAM = 0x6F7264  # "ord"
_VALIDATION_STREAM = 0x76616C  # "val"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def name_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


@dataclass
class HeldOutRule:
    """Document ``d`` is held out iff its seeded hash is below ``fraction * 2**64`` — except that a source of two
    or more documents always keeps at least one of each kind (`forced_in`/`forced_out`, found at build time)."""

    key: np.uint64
    threshold: int  # 0 = nothing held out
    forced_in: int = -1
    forced_out: int = -1

    def __call__(self, docs: np.ndarray) -> np.ndarray:
        held = uniform_hash(docs, self.key) < np.uint64(self.threshold)
        held |= docs == self.forced_in
        held &= docs != self.forced_out
        return held


@dataclass
class SourceIndex:
    """The opened files of one source (see the module docstring); read by slices (`OffsetFile`)."""

    num_documents: int
    chunk_size: int
    train_ends: OffsetFile
    train_starts: OffsetFile
    chunk_ends: np.ndarray
    validation_ids: OffsetFile
    validation_ends: OffsetFile
    permutation: DocumentPermutation
    meta: dict

    @property
    def train_documents(self) -> int:
        return self.num_documents - self.validation_ids.size

    @property
    def train_tokens(self) -> int:
        return self.train_ends.last()

    @property
    def validation_tokens(self) -> int:
        return self.validation_ends.last()


def chunk_size_for(num_documents: int) -> int:
    return max(1, -(-num_documents // MAX_EPOCH_CHUNKS))


def open_source_index(
    name: str, shards: TokenShardSet, *, seed: int, validation_fraction: float, cache_dir: str = ""
) -> SourceIndex:
    """Map the source's index from the cache, building it first if no process has."""
    parts = {
        "format": INDEX_FORMAT,
        "source": name,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "shards": shards.content_signature(),
        "files": shards.file_signature(),
    }
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    directory = Path(cache_dir).expanduser() if cache_dir else shards.directories[0] / CACHE_DIR_NAME
    stem = directory / f"{_UNSAFE.sub('_', name).strip('._') or '_'}-{key}"
    permutation = DocumentPermutation(shards.num_documents, [seed, name_seed(name), _ORDER_STREAM])
    if not stem.with_suffix(".json").is_file():
        _build_once(stem, shards, permutation, parts, name, seed, validation_fraction)
    return _load(stem, permutation)


def _build_once(stem: Path, shards, permutation, parts, name, seed, validation_fraction) -> None:
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
        lock = _open_lock_file(stem.with_suffix(".lock"))
    except OSError as err:
        raise DataConfigError(
            f"data source {name!r}: cannot build its loader index in {stem.parent} ({err.strerror or err}) — set "
            "data.index_cache_dir to a writable directory shared by the ranks of a node, or open the data once "
            "where that directory is writable"
        ) from None
    try:
        _lock_exclusively(lock, name, stem.parent)
        if not stem.with_suffix(".json").is_file():
            started = time.perf_counter()
            log.info("building the loader index of source %r (%d documents) in %s", name, shards.num_documents,
                     stem.parent)
            rule = HeldOutRule(stream_keys([seed, name_seed(name), _VALIDATION_STREAM], 1)[0],
                               min(int(validation_fraction * 2.0**64), 2**64 - 1))
            counts = _write_validation(stem, shards, rule)
            n = shards.num_documents
            if n >= 2 and rule.threshold and counts[0] in (0, n):  # keep at least one of each kind
                if counts[0] == 0:
                    rule.forced_in = _extreme_hash_document(n, rule, smallest=True)
                else:
                    rule.forced_out = _extreme_hash_document(n, rule, smallest=False)
                counts = _write_validation(stem, shards, rule)
            train_tokens, chunk_size = _write_train_ends(stem, shards, permutation, rule)
            meta = {
                "key_parts": parts, "documents": n, "chunk_size": chunk_size, "train_tokens": train_tokens,
                "validation_documents": counts[0], "validation_tokens": counts[1],
                "build_seconds": round(time.perf_counter() - started, 3),
            }
            atomic_write_json(stem.with_suffix(".json"), meta, sort_keys=True)
            shards.close()  # unmap the .idx files the build read: they would stay in this rank's RSS
            log.info("loader index of %r built in %.1f s", name, meta["build_seconds"])
    except OSError as err:
        raise DataConfigError(
            f"data source {name!r}: writing its loader index in {stem.parent} failed ({err.strerror or err}) — "
            "free space there or set data.index_cache_dir to another writable directory"
        ) from None
    finally:
        os.close(lock)


def _lock_exclusively(lock: int, name: str, directory: Path) -> None:
    """Wait for the lock, saying so when another process holds it (a build can take minutes)."""
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process to build the loader index of source %r in %s", name, directory)
            fcntl.flock(lock, fcntl.LOCK_EX)
    except OSError:  # a filesystem without flock: every process builds the same bytes, renames are atomic
        pass


def _open_lock_file(path: Path) -> int:
    """The first file a build creates: where a read-only cache directory shows."""
    return os.open(path, os.O_CREAT | os.O_RDWR, 0o664)


def _extreme_hash_document(n: int, rule: HeldOutRule, smallest: bool) -> int:
    """The document with the smallest (or largest) held-out hash, in bounded memory."""
    best_doc, best_hash = -1, None
    for start in range(0, n, BUILD_CHUNK):
        hashes = uniform_hash(np.arange(start, min(start + BUILD_CHUNK, n)), rule.key)
        i = int(np.argmin(hashes) if smallest else np.argmax(hashes))
        if best_hash is None or (hashes[i] < best_hash if smallest else hashes[i] > best_hash):
            best_doc, best_hash = start + i, hashes[i]
    return best_doc


def _write_validation(stem: Path, shards: TokenShardSet, rule: HeldOutRule) -> tuple[int, int]:
    """Held-out documents in index order and their cumulative tokens; returns (documents, tokens)."""
    documents, tokens = 0, 0
    with atomic_open(_path(stem, "validation-ids")) as ids_file, atomic_open(_path(stem, "validation-ends")) as ends_file:
        for start in range(0, shards.num_documents, BUILD_CHUNK):
            docs = np.arange(start, min(start + BUILD_CHUNK, shards.num_documents), dtype=np.int64)
            held = docs[rule(docs)]
            ends = tokens + np.cumsum(shards.document_lengths(held), dtype=np.int64)
            ids_file.write(held.astype(OFFSET_DTYPE).tobytes())
            ends_file.write(ends.astype(OFFSET_DTYPE).tobytes())
            documents += held.size
            tokens = int(ends[-1]) if ends.size else tokens
    return documents, tokens


def _write_train_ends(stem: Path, shards, permutation, rule) -> tuple[int, int]:
    """Cumulative training tokens and each document's first source token along the shuffled base order, and
    the chunk ends; returns (tokens, chunk size)."""
    n = shards.num_documents
    chunk = chunk_size_for(n)
    total, chunk_ends = 0, []
    with atomic_open(_path(stem, "train-ends")) as ends_file, atomic_open(_path(stem, "train-starts")) as starts_file:
        for start in range(0, n, BUILD_CHUNK):
            positions = np.arange(start, min(start + BUILD_CHUNK, n), dtype=np.int64)
            docs = permutation(positions)
            shard, first_token, end_token = shards.document_spans(docs)
            lengths = end_token - first_token
            lengths[rule(docs)] = 0
            ends = total + np.cumsum(lengths, dtype=np.int64)
            ends_file.write(ends.astype(OFFSET_DTYPE).tobytes())
            starts_file.write((shards.shard_first_token[shard] + first_token).astype(OFFSET_DTYPE).tobytes())
            last_of_chunk = ((positions + 1) % chunk == 0) | (positions == n - 1)
            chunk_ends.append(ends[last_of_chunk])
            total = int(ends[-1])
    with atomic_open(_path(stem, "chunk-ends")) as fh:
        fh.write(np.concatenate(chunk_ends).astype(OFFSET_DTYPE).tobytes())
    return total, chunk


def _path(stem: Path, part: str) -> Path:
    return stem.with_name(f"{stem.name}.{part}.i64")


def _load(stem: Path, permutation: DocumentPermutation) -> SourceIndex:
    meta = json.loads(stem.with_suffix(".json").read_text())
    n, chunk = int(meta["documents"]), int(meta["chunk_size"])
    validation = int(meta["validation_documents"])
    return SourceIndex(
        num_documents=n,
        chunk_size=chunk,
        train_ends=OffsetFile(_path(stem, "train-ends"), n),
        train_starts=OffsetFile(_path(stem, "train-starts"), n),
        chunk_ends=np.fromfile(_path(stem, "chunk-ends"), dtype=OFFSET_DTYPE, count=-(-n // chunk)),
        validation_ids=OffsetFile(_path(stem, "validation-ids"), validation),
        validation_ends=OffsetFile(_path(stem, "validation-ends"), validation),
        permutation=permutation,
        meta=meta,
    )
