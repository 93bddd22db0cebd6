"""A one-shard token source written straight from id arrays, for tests that need a corpus but no tokenizer."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from data_pipeline.formats.token_shards import TokenShardWriter, write_manifest

EOS = 2


def write_token_source(directory: Path, documents: Iterable[np.ndarray], language: str, vocab_size: int) -> Path:
    """`directory`/part-00000 + manifest; the source is named after the directory."""
    with TokenShardWriter(directory, "part-00000", vocab_size=vocab_size, eos_id=EOS) as writer:
        for doc in documents:
            writer.add_document(doc, source=directory.name, language=language)
    write_manifest(directory, [writer.entry], vocab_size=vocab_size, eos_id=EOS, tokenizer_sha256="0" * 64)
    return directory
