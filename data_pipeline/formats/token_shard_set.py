"""The reading side of the token-shard format (`token_shards.py`): shard directories named by a path or a glob,
memory-mapped and checked against their manifests, as one indexable sequence of documents."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data_pipeline.formats.token_shards import (
    INDEX_DTYPE,
    MANIFEST_NAME,
    ShardEntry,
    TokenShardError,
    compact_index_dtype,
    read_manifest,
)


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


class TokenShardSet:
    """The documents of one or more shard directories, memory-mapped, as one indexable sequence.

    Document ``d`` has ``doc_lengths[d]`` tokens (its EOS included); `document_tokens(d, start, end)` returns a
    read-only view into the page cache, so opening terabytes costs only the index arrays.
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
        self._tokens: list[np.ndarray] = []
        starts: list[np.ndarray] = []
        shard_of_doc: list[np.ndarray] = []
        for directory, manifest in zip(self.directories, self.manifests):
            for entry in manifest.shards:
                tokens, boundaries = self._open_shard(directory, entry)
                shard_of_doc.append(np.full(entry.documents, len(self._tokens), dtype=np.int32))
                starts.append(boundaries)
                self._tokens.append(tokens)
        self._doc_shard = np.concatenate(shard_of_doc) if shard_of_doc else np.zeros(0, np.int32)
        self._doc_start = np.concatenate([b[:-1] for b in starts]) if starts else np.zeros(0, np.int64)
        lengths = np.concatenate([np.diff(b) for b in starts]) if starts else np.zeros(0, np.int64)
        self.doc_lengths = lengths.astype(compact_index_dtype(int(lengths.max(initial=0))))

    def _open_shard(self, directory: Path, entry: ShardEntry) -> tuple[np.ndarray, np.ndarray]:
        bin_path, idx_path = directory / f"{entry.name}.bin", directory / f"{entry.name}.idx"
        if not bin_path.is_file() or not idx_path.is_file():
            raise TokenShardError(
                f"shard {entry.name} listed in {directory}/{MANIFEST_NAME} is missing — re-run tokenize"
            )
        boundaries = np.fromfile(idx_path, dtype=INDEX_DTYPE)
        expected_bytes = entry.tokens * self.dtype.itemsize
        if (
            len(boundaries) != entry.documents + 1
            or boundaries[0] != 0
            or boundaries[-1] != entry.tokens
            or bin_path.stat().st_size != expected_bytes
        ):
            raise TokenShardError(
                f"shard {directory}/{entry.name} does not match its manifest entry — re-run tokenize"
            )
        tokens = np.memmap(bin_path, dtype=self.dtype, mode="r") if entry.tokens else np.zeros(0, self.dtype)
        return tokens, boundaries

    @classmethod
    def from_path(cls, path_or_glob: str) -> TokenShardSet:
        return cls(resolve_shard_dirs(path_or_glob))

    @property
    def num_documents(self) -> int:
        return int(self.doc_lengths.size)

    @property
    def num_tokens(self) -> int:
        return int(self.doc_lengths.sum(dtype=np.int64))

    def document_tokens(self, doc: int, start: int = 0, end: int | None = None) -> np.ndarray:
        """Tokens ``[start, end)`` of document `doc` (EOS is its last token)."""
        length = int(self.doc_lengths[doc])
        end = length if end is None else min(end, length)
        offset = int(self._doc_start[doc])
        return self._tokens[self._doc_shard[doc]][offset + start : offset + end]

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
