"""Synthetic token shards for the loader tests: random documents written through the real writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_pipeline.formats.token_shards import TokenShardWriter, write_manifest

VOCAB = 1000
EOS = 2


class ShardFactory:
    def __init__(self, root: Path):
        self.root = root
        self.vocab = VOCAB
        self.eos = EOS

    def documents(self, seed: int, count: int, min_len: int = 1, max_len: int = 300) -> list[np.ndarray]:
        """Documents of random ids in [3, VOCAB) (never EOS) with random lengths."""
        rng = np.random.default_rng(seed)
        return [rng.integers(3, VOCAB, size=int(rng.integers(min_len, max_len + 1))) for _ in range(count)]

    def source(self, name: str, documents: list[np.ndarray], shards: int = 2, language: str = "en") -> Path:
        """Write `documents` (without EOS) into `shards` shards under ROOT/name, with a manifest."""
        directory = self.root / name
        entries = []
        per_shard = int(np.ceil(len(documents) / shards))
        for s in range(shards):
            with TokenShardWriter(directory, f"part-{s:05d}", vocab_size=VOCAB, eos_id=EOS) as writer:
                for doc in documents[s * per_shard : (s + 1) * per_shard]:
                    writer.add_document(doc, source=name, language=language)
            entries.append(writer.entry)
        write_manifest(directory, entries, vocab_size=VOCAB, eos_id=EOS, tokenizer_sha256="f" * 64)
        return directory


@pytest.fixture
def shard_factory(tmp_path: Path) -> ShardFactory:
    return ShardFactory(tmp_path)


@pytest.fixture
def two_sources(shard_factory: ShardFactory) -> dict[str, Path]:
    """A big 'zh' source and a small 'en' source (the small one must be upsampled)."""
    return {
        "zh": shard_factory.source("zh", shard_factory.documents(1, 120), shards=3, language="zh"),
        "en": shard_factory.source("en", shard_factory.documents(2, 15, max_len=80), shards=1),
    }
