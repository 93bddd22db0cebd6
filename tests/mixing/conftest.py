"""A synthetic two-domain setup whose right answer is known: uniform-noise tokens vs. a repeated pattern."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_pipeline.formats.token_shards import TokenShardWriter, write_manifest
from pretrain.data import DataConfig, SourceConfig
from pretrain.model import ModelConfig

VOCAB = 64
EOS = 2


def write_source(directory: Path, documents: list[np.ndarray], language: str) -> Path:
    with TokenShardWriter(directory, "part-00000", vocab_size=VOCAB, eos_id=EOS) as writer:
        for doc in documents:
            writer.add_document(doc, source=directory.name, language=language)
    write_manifest(directory, [writer.entry], vocab_size=VOCAB, eos_id=EOS, tokenizer_sha256="a" * 64)
    return directory


@pytest.fixture
def noise_and_pattern(tmp_path: Path) -> DataConfig:
    rng = np.random.default_rng(0)
    # Noise: every token uniform over 3..63 — no model can beat log(61) nats on it.
    noise = [rng.integers(3, VOCAB, size=200) for _ in range(40)]
    # Pattern: one fixed 12-token phrase repeated — learnable to ~0 loss.
    phrase = rng.integers(3, VOCAB, size=12)
    pattern = [np.tile(phrase, 17) for _ in range(40)]
    return DataConfig(
        sources=[
            SourceConfig(name="noise", path=str(write_source(tmp_path / "noise", noise, "xx")), target_fraction=0.5),
            SourceConfig(name="pattern", path=str(write_source(tmp_path / "pattern", pattern, "yy")),
                         target_fraction=0.5),
        ],
        validation_fraction=0.1,
    )


@pytest.fixture
def small_model() -> ModelConfig:
    return ModelConfig(name="test", vocab_size=VOCAB, hidden_size=32, num_layers=1, num_heads=2,
                       intermediate_size=64, max_seq_len=64, attention="sdpa", norm="torch")
