"""A synthetic two-domain setup whose right answer is known: uniform-noise tokens vs. a repeated pattern."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pretrain.data import DataConfig, SourceConfig
from pretrain.model import ModelConfig
from tests.token_sources import write_token_source

VOCAB = 64


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
            SourceConfig(name="noise", path=str(write_token_source(tmp_path / "noise", noise, "xx", VOCAB)), target_fraction=0.5),
            SourceConfig(name="pattern", path=str(write_token_source(tmp_path / "pattern", pattern, "yy", VOCAB)),
                         target_fraction=0.5),
        ],
        validation_fraction=0.1,
    )


@pytest.fixture
def small_model() -> ModelConfig:
    return ModelConfig(name="test", vocab_size=VOCAB, hidden_size=32, num_layers=1, num_heads=2,
                       intermediate_size=64, max_seq_len=64, attention="sdpa", norm="torch")
