"""The reading side of the token-shard format (`token_shards.py`): shard directories named by a path or a glob,
memory-mapped and checked against their manifests, as one indexable sequence of documents.

Nothing here is per document in memory: a set holds one cumulative document and token count per shard,
memory-maps a shard's ``.idx`` when a document of it is first looked up, and reads tokens from its ``.bin`` with
``pread``.
Both go through the page cache, shared by every process of a node. Tokens are read rather than mapped because
a mapping counts in a process's RSS every page the kernel maps around a fault (64 KiB per random read): a rank
reading 8 x 4096 tokens would soon "hold" the whole corpus in RSS, though the memory is the node's shared
page cache either way. Document and token positions are int64 throughout, so a directory may hold more than
2**31 documents or tokens.
"""

from __future__ import annotations

import bisect
import glob
import mmap
import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data_pipeline.formats.token_shards import (
    INDEX_DTYPE,
    MANIFEST_NAME,
    TokenShardError,
    read_manifest,
)

# Each open shard keeps two file descriptors (the .bin, and the .idx mapping's: CPython's mmap dups it): past
# this many shards the least recently read are closed, so tens of thousands of shards stay under the fd limit.
MAX_OPEN_SHARDS = 512


def resolve_shard_dirs(path_or_glob: str) -> list[Path]:
    """The shard directories (those holding a manifest) named by a path or a glob, sorted."""
    candidates = (
        sorted(glob.glob(os.path.expanduser(path_or_glob)))
        if glob.has_magic(path_or_glob)
        else [path_or_glob]
    )
    dirs = [Path(p) for p in candidates if (Path(p) / MANIFEST_NAME).is_file()]
    if not dirs:
        raise TokenShardError(
            f"no token-shard directory (with {MANIFEST_NAME}) matches {path_or_glob!r} — "
            "run python -m data_pipeline.tokenize first or fix the path"
        )
    return dirs


def map_read_only(path: Path, dtype: np.dtype, count: int) -> np.ndarray:
    """The first `count` items of a file as a read-only array backed by the page cache (a plain ndarray: indexing
    it costs less than indexing an np.memmap)."""
    if count == 0:
        return np.zeros(0, dtype)
    with open(path, "rb") as fh:
        buffer = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(buffer, dtype=dtype, count=count)


class TokenShardSet:
    """The documents of one or more shard directories, memory-mapped, as one indexable sequence.

    Document ``d`` (global over the directories, in manifest order) has `document_length(d)` tokens, its EOS
    included; `document_tokens(d, start, end)` reads them.
    """

    def __init__(self, directories: Sequence[str | os.PathLike]):
        if not directories:
            raise TokenShardError("a TokenShardSet needs at least one directory — check the source path")
        self.directories = [Path(d) for d in directories]
        self.manifests = [read_manifest(d) for d in self.directories]
        first = self.manifests[0]
        for directory, manifest in zip(self.directories[1:], self.manifests[1:]):
            if (manifest.tokenizer_sha256, manifest.eos_id, manifest.dtype) != (
                first.tokenizer_sha256,
                first.eos_id,
                first.dtype,
            ):
                raise TokenShardError(
                    f"{directory} was tokenized with another tokenizer than {self.directories[0]} — "
                    "re-tokenize so every directory of one source shares a tokenizer"
                )
        self.dtype = np.dtype(first.dtype)
        self.vocab_size = first.vocab_size
        self.eos_id = first.eos_id
        self.tokenizer_sha256 = first.tokenizer_sha256
        self._paths: list[tuple[Path, Path]] = []  # (.bin, .idx) per shard
        self._shard_tokens: list[int] = []
        documents = [0]
        for directory, manifest in zip(self.directories, self.manifests):
            for entry in manifest.shards:
                self._paths.append(self._check_shard(directory, entry.name, entry.documents, entry.tokens))
                self._shard_tokens.append(entry.tokens)
                documents.append(documents[-1] + entry.documents)
        # first document / first token of each shard, then the totals: int64, the only per-shard arrays. A
        # "source token position" counts the tokens of every shard, in order, as one sequence.
        self.shard_first_document = np.asarray(documents, dtype=np.int64)
        self._shard_first_token = [0]
        for tokens in self._shard_tokens:
            self._shard_first_token.append(self._shard_first_token[-1] + tokens)
        self.shard_first_token = np.asarray(self._shard_first_token, dtype=np.int64)
        self.num_tokens = self._shard_first_token[-1]
        self._open: OrderedDict[int, tuple[int, np.ndarray]] = OrderedDict()  # shard -> (.bin fd, .idx map)

    def _check_shard(self, directory: Path, name: str, documents: int, tokens: int) -> tuple[Path, Path]:
        """Sizes and the first and last boundary against the manifest: a few bytes read, not the index."""
        bin_path, idx_path = directory / f"{name}.bin", directory / f"{name}.idx"
        if not bin_path.is_file() or not idx_path.is_file():
            raise TokenShardError(f"shard {name} listed in {directory}/{MANIFEST_NAME} is missing — re-run tokenize")
        ok = (
            idx_path.stat().st_size == (documents + 1) * INDEX_DTYPE.itemsize
            and bin_path.stat().st_size == tokens * self.dtype.itemsize
        )
        if ok:
            with open(idx_path, "rb") as fh:
                head = np.frombuffer(fh.read(INDEX_DTYPE.itemsize), INDEX_DTYPE)
                fh.seek(documents * INDEX_DTYPE.itemsize)
                tail = np.frombuffer(fh.read(INDEX_DTYPE.itemsize), INDEX_DTYPE)
            ok = int(head[0]) == 0 and int(tail[0]) == tokens
        if not ok:
            raise TokenShardError(f"shard {directory}/{name} does not match its manifest entry — re-run tokenize")
        return bin_path, idx_path

    @classmethod
    def from_path(cls, path_or_glob: str) -> TokenShardSet:
        return cls(resolve_shard_dirs(path_or_glob))

    @property
    def num_documents(self) -> int:
        return int(self.shard_first_document[-1])

    @property
    def num_shards(self) -> int:
        return len(self._paths)

    def _shard(self, index: int) -> tuple[int, np.ndarray]:
        """(.bin file descriptor, mapped boundaries) of shard `index`, opened on first use."""
        opened = self._open.get(index)
        if opened is None:
            bin_path, idx_path = self._paths[index]
            documents = int(self.shard_first_document[index + 1] - self.shard_first_document[index])
            opened = (os.open(bin_path, os.O_RDONLY), map_read_only(idx_path, INDEX_DTYPE, documents + 1))
            self._open[index] = opened
            if len(self._open) > MAX_OPEN_SHARDS:
                os.close(self._open.popitem(last=False)[1][0])  # the mapping goes with its last view
        else:
            self._open.move_to_end(index)
        return opened

    def boundaries(self, shard: int) -> np.ndarray:
        """Shard `shard`'s ``.idx``, memory-mapped."""
        return self._shard(shard)[1]

    def read_tokens(self, shard: int, start: int, end: int) -> np.ndarray:
        """Tokens ``[start, end)`` of shard `shard`'s ``.bin`` (a fresh array of the shard's dtype)."""
        size = self.dtype.itemsize
        data = os.pread(self._shard(shard)[0], (end - start) * size, start * size)
        if len(data) != (end - start) * size:
            raise TokenShardError(f"shard {self._paths[shard][0]} is shorter than its manifest says — re-run tokenize")
        return np.frombuffer(data, dtype=self.dtype)

    def read_source_tokens(self, start: int, end: int) -> np.ndarray:
        """Source token positions ``[start, end)``, which must lie in one shard (e.g. inside one document)."""
        shard = bisect.bisect_right(self._shard_first_token, start) - 1
        first = self._shard_first_token[shard]
        return self.read_tokens(shard, start - first, end - first)

    def close(self) -> None:
        while self._open:
            os.close(self._open.popitem()[1][0])

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: os may be gone already
            pass

    def shard_of(self, docs: np.ndarray) -> np.ndarray:
        """The shard holding each of `docs` (int64 array)."""
        docs = np.asarray(docs, dtype=np.int64)
        if docs.size and (docs.min() < 0 or docs.max() >= self.num_documents):
            raise IndexError(f"document index out of range [0, {self.num_documents})")
        return np.searchsorted(self.shard_first_document, docs, side="right") - 1

    def document_spans(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(shard, first token, end token) of each of `docs`, the tokens being positions in that shard's .bin."""
        docs = np.asarray(docs, dtype=np.int64)
        shards = self.shard_of(docs)
        starts = np.empty(docs.size, np.int64)
        ends = np.empty(docs.size, np.int64)
        order = np.argsort(shards, kind="stable")
        sorted_shards = shards[order]
        cuts = np.flatnonzero(np.diff(sorted_shards)) + 1
        for group in np.split(order, cuts) if docs.size else []:
            s = int(shards[group[0]])
            boundaries = self.boundaries(s)
            local = docs[group] - self.shard_first_document[s]
            starts[group] = boundaries[local]
            ends[group] = boundaries[local + 1]
        return shards, starts, ends

    def source_token_starts(self, docs: np.ndarray) -> np.ndarray:
        """The source token position of each of `docs`' first token, int64."""
        shards, starts, _ = self.document_spans(docs)
        return self.shard_first_token[shards] + starts

    def document_lengths(self, docs: np.ndarray) -> np.ndarray:
        """Token counts (EOS included) of `docs`, int64."""
        _, starts, ends = self.document_spans(docs)
        return ends - starts

    def document_length(self, doc: int) -> int:
        return int(self.document_lengths(np.array([doc]))[0])

    def document_tokens(self, doc: int, start: int = 0, end: int | None = None) -> np.ndarray:
        """Tokens ``[start, end)`` of document `doc` (EOS is its last token)."""
        shards, starts, ends = self.document_spans(np.array([doc]))
        first, last = int(starts[0]), int(ends[0])
        stop = last if end is None else min(first + end, last)
        return self.read_tokens(int(shards[0]), first + start, max(stop, first + start))

    def content_signature(self) -> dict:
        """What identifies the content (tokenizer, every shard's name and counts), not where it lies: for fingerprints."""
        return {
            "tokenizer_sha256": self.tokenizer_sha256,
            "shards": [
                [shard.name, shard.tokens, shard.documents]
                for manifest in self.manifests
                for shard in manifest.shards
            ],
        }

    def file_signature(self) -> list[list[int]]:
        """(inode, size, mtime_ns) of every ``.idx``: a re-tokenized shard is a new file renamed into place (a new
        inode), so this tells it apart from the one an index cache was built from even when its counts match."""
        stats = [idx.stat() for _, idx in self._paths]
        return [[st.st_ino, st.st_size, st.st_mtime_ns] for st in stats]
