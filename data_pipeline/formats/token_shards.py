"""Token shards: the one module that knows how tokenized documents lie on disk.

A shard directory holds ``manifest.json`` and, per shard ``NAME``:

* ``NAME.bin`` — every token id of the shard, flat, ``uint16`` when the vocabulary fits (≤ 65,536 ids, e.g.
  Baichuan's 64,000) else ``uint32``; each document is followed by the EOS id.
* ``NAME.idx`` — ``int64`` document boundaries into ``NAME.bin``, length ``documents + 1``, starting at 0 and
  ending at the token count; document ``i`` (with its EOS) is ``bin[idx[i]:idx[i+1]]``.

Counts and offsets are Python ints (manifest, writer) or int64 (``.idx``, every reader), never int32: one shard
directory may hold more than 2**31 documents or tokens (Baichuan-2's 2.6 T tokens are ~2e9 documents).

``manifest.json`` holds the format version, dtype, vocab size, EOS id, the tokenizer's sha256, one entry per
shard (tokens, documents, its source and dominant language, and the per-source / per-language breakdown) and
totals per source and language. Every file is written to a temporary name and renamed into place, so a crash
never leaves a half-written shard or manifest behind.

Writers use `TokenShardWriter` + `write_manifest`; readers (the trainer's data loader) use `TokenShardSet` in
`token_shard_set.py`, which memory-maps the shards of one or more directories as one sequence of documents.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain
from pathlib import Path

import numpy as np

from data_pipeline.tokenizer.document_start import document_prefix
from plumbing.atomic_write import atomic_write_bytes
from plumbing.atomic_write import atomic_write_json as plumbing_atomic_write_json

FORMAT_NAME = "baichuan-token-shards"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
INDEX_DTYPE = np.dtype("<i8")
UINT16_VOCAB_LIMIT = 1 << 16


class TokenShardError(ValueError):
    """A shard directory that is missing, inconsistent or of another tokenizer (a user can fix it)."""


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """uint16 when every id fits in 16 bits (half the disk and page cache), else uint32."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    return np.dtype("<u2") if vocab_size <= UINT16_VOCAB_LIMIT else np.dtype("<u4")


def boundaries_bytes(boundaries: Sequence[int]) -> bytes:
    """The ``.idx`` content for document boundaries (Python ints, any size up to 2**63): int64, little-endian.
    A narrower type would raise OverflowError rather than wrap."""
    return np.asarray(boundaries, dtype=INDEX_DTYPE).tobytes()


def atomic_write_json(path: Path, obj: object) -> None:
    """The token-shard JSON files (manifest, progress markers) are written with sorted keys."""
    plumbing_atomic_write_json(path, obj, sort_keys=True)


@dataclass
class Counts:
    documents: int = 0
    tokens: int = 0

    def add(self, documents: int, tokens: int) -> None:
        self.documents += documents
        self.tokens += tokens

    def to_json(self) -> dict:
        return {"documents": self.documents, "tokens": self.tokens}


@dataclass
class ShardEntry:
    """One shard as the manifest lists it."""

    name: str
    tokens: int
    documents: int
    source: str  # the shard's only source, or "mixed"
    language: str  # the language holding most of the shard's tokens
    sources: dict[str, Counts] = field(default_factory=dict)
    languages: dict[str, Counts] = field(default_factory=dict)

    def to_json(self) -> dict:
        # Spelled out rather than dataclasses.asdict (a recursive deep copy): written once per input file and
        # once per shard into every manifest.
        return {
            "name": self.name,
            "tokens": self.tokens,
            "documents": self.documents,
            "source": self.source,
            "language": self.language,
            "sources": {k: c.to_json() for k, c in self.sources.items()},
            "languages": {k: c.to_json() for k, c in self.languages.items()},
        }

    @classmethod
    def from_json(cls, obj: dict) -> ShardEntry:
        return cls(
            name=obj["name"],
            tokens=int(obj["tokens"]),
            documents=int(obj["documents"]),
            source=obj["source"],
            language=obj["language"],
            sources={k: Counts(**v) for k, v in obj.get("sources", {}).items()},
            languages={k: Counts(**v) for k, v in obj.get("languages", {}).items()},
        )


@dataclass
class TokenShardManifest:
    dtype: str
    vocab_size: int
    eos_id: int
    tokenizer_sha256: str
    shards: list[ShardEntry]
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION

    @property
    def total_tokens(self) -> int:
        return sum(s.tokens for s in self.shards)

    @property
    def total_documents(self) -> int:
        return sum(s.documents for s in self.shards)

    def totals_by(self, key: str) -> dict[str, Counts]:
        """Documents and tokens per source (key="sources") or per language (key="languages")."""
        totals: dict[str, Counts] = {}
        for shard in self.shards:
            for name, counts in getattr(shard, key).items():
                totals.setdefault(name, Counts()).add(counts.documents, counts.tokens)
        return dict(sorted(totals.items()))

    def to_json(self) -> dict:
        return {
            "format": self.format,
            "version": self.version,
            "dtype": self.dtype,
            "vocab_size": self.vocab_size,
            "eos_id": self.eos_id,
            "tokenizer_sha256": self.tokenizer_sha256,
            "shards": [s.to_json() for s in self.shards],
            "totals": {
                "tokens": self.total_tokens,
                "documents": self.total_documents,
                "by_source": {k: v.to_json() for k, v in self.totals_by("sources").items()},
                "by_language": {k: v.to_json() for k, v in self.totals_by("languages").items()},
            },
        }

    @classmethod
    def from_json(cls, obj: dict) -> TokenShardManifest:
        if obj.get("format") != FORMAT_NAME or int(obj.get("version", -1)) > FORMAT_VERSION:
            raise TokenShardError(
                f"not a {FORMAT_NAME} v{FORMAT_VERSION} manifest (format={obj.get('format')!r}, "
                f"version={obj.get('version')!r}) — rewrite the shards with python -m data_pipeline.tokenize"
            )
        return cls(
            dtype=obj["dtype"],
            vocab_size=int(obj["vocab_size"]),
            eos_id=int(obj["eos_id"]),
            tokenizer_sha256=obj["tokenizer_sha256"],
            shards=[ShardEntry.from_json(s) for s in obj["shards"]],
            format=obj["format"],
            version=int(obj["version"]),
        )


def _count_by_key(counts: dict[str, Counts], keys: Sequence[str], lengths: Sequence[int]) -> None:
    """Add one document of `lengths[i]` tokens to ``counts[keys[i]]`` for every i (one add when all keys agree)."""
    if keys and keys.count(keys[0]) == len(keys):  # the usual batch: one source, one language
        counts.setdefault(keys[0], Counts()).add(len(keys), sum(lengths))
        return
    for key, length in zip(keys, lengths):
        counts.setdefault(key, Counts()).add(1, length)


class TokenShardWriter:
    """Write one shard (``NAME.bin`` + ``NAME.idx``) document by document; files appear only on `close`.

    >>> with TokenShardWriter(out_dir, "part-00000", vocab_size=64000, eos_id=2) as w:
    ...     w.add_document([17, 4, 99], source="zh_wiki", language="zh")
    >>> entry = w.entry   # a ShardEntry for the manifest
    """

    def __init__(self, directory: str | os.PathLike, name: str, *, vocab_size: int, eos_id: int):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.dtype = dtype_for_vocab(vocab_size)
        self.vocab_size = vocab_size
        # What ends a document is what starts the next: one home for both (data_pipeline/tokenizer/document_start.py).
        self.eos = np.array(document_prefix(eos_id), dtype=self.dtype)
        self._bin_path = self.directory / f"{name}.bin"
        self._idx_path = self.directory / f"{name}.idx"
        self._bin_tmp = self.directory / f".{name}.bin.tmp-{os.getpid()}"
        self._bin = open(self._bin_tmp, "wb")
        self._boundaries = [0]
        self._sources: dict[str, Counts] = {}
        self._languages: dict[str, Counts] = {}
        self.entry: ShardEntry | None = None

    def add_document(self, token_ids: Sequence[int] | np.ndarray, *, source: str, language: str) -> None:
        self.add_documents([token_ids], sources=[source], languages=[language])

    def add_documents(
        self, documents: Sequence[Sequence[int]], *, sources: Sequence[str], languages: Sequence[str]
    ) -> None:
        """Append several documents (each followed by EOS) with one conversion and one write.

        Documents that are all numpy arrays (what `SentencePieceProcessor.encode(..., return_type="numpy")`
        returns) are joined by one `np.concatenate`; lists of ints go through one `np.fromiter`.
        """
        if not documents:
            return
        lengths = [len(doc) + len(self.eos) for doc in documents]
        if all(isinstance(doc, np.ndarray) for doc in documents):
            flat = np.concatenate([part for doc in documents for part in (doc, self.eos)])  # promotes dtypes
        else:
            eos = tuple(int(token) for token in self.eos)
            flat = np.fromiter(
                chain.from_iterable(chain(doc, eos) for doc in documents), dtype=np.int64, count=sum(lengths)
            )
        if flat.dtype.kind not in "iu":
            raise ValueError(f"token ids must be integers, got {flat.dtype} in shard {self.name}")
        if flat.min() < 0 or flat.max() >= self.vocab_size:
            raise ValueError(f"token id out of range [0, {self.vocab_size}) in shard {self.name}")
        self._bin.write(flat.astype(self.dtype, copy=False).data)
        ends = list(accumulate(lengths, initial=self._boundaries[-1]))
        self._boundaries.extend(ends[1:])  # python ints: the manifest's token count comes from here
        _count_by_key(self._sources, sources, lengths)
        _count_by_key(self._languages, languages, lengths)

    def close(self) -> ShardEntry:
        """Flush both files, rename them into place and return the shard's manifest entry."""
        self._bin.flush()
        os.fsync(self._bin.fileno())
        self._bin.close()
        os.replace(self._bin_tmp, self._bin_path)
        atomic_write_bytes(self._idx_path, boundaries_bytes(self._boundaries))
        language = (
            max(self._languages.items(), key=lambda kv: (kv[1].tokens, kv[0]))[0] if self._languages else ""
        )
        sources = sorted(self._sources)
        self.entry = ShardEntry(
            name=self.name,
            tokens=self._boundaries[-1],
            documents=len(self._boundaries) - 1,
            source=sources[0] if len(sources) == 1 else ("mixed" if sources else ""),
            language=language,
            sources=dict(sorted(self._sources.items())),
            languages=dict(sorted(self._languages.items())),
        )
        return self.entry

    def abort(self) -> None:
        self._bin.close()
        self._bin_tmp.unlink(missing_ok=True)

    def __enter__(self) -> TokenShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_manifest(
    directory: str | os.PathLike,
    shards: Iterable[ShardEntry],
    *,
    vocab_size: int,
    eos_id: int,
    tokenizer_sha256: str,
) -> TokenShardManifest:
    """Write ``DIR/manifest.json`` (shards sorted by name, so the result does not depend on worker order)."""
    manifest = TokenShardManifest(
        dtype=dtype_for_vocab(vocab_size).name,
        vocab_size=vocab_size,
        eos_id=eos_id,
        tokenizer_sha256=tokenizer_sha256,
        shards=sorted(shards, key=lambda s: s.name),
    )
    atomic_write_json(Path(directory) / MANIFEST_NAME, manifest.to_json())
    return manifest


def read_manifest(directory: str | os.PathLike) -> TokenShardManifest:
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise TokenShardError(
            f"no {MANIFEST_NAME} in {directory} — point at a directory written by data_pipeline.tokenize"
        )
    return TokenShardManifest.from_json(json.loads(path.read_text()))
