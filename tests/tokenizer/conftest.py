"""A tokenizer trained once per test session on the shared zh/en corpus, and shards tokenized with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_pipeline.tokenize import TokenizeConfig, tokenize
from data_pipeline.train_tokenizer import COMMAND as TRAIN_TOKENIZER_COMMAND
from data_pipeline.train_tokenizer import train_tokenizer
from tests.real_text import is_full_corpus, real_corpus_dir

# The full corpus needs ~4,500 distinct characters at 0.9995 coverage; 8,000 pieces leave room for real merges.
# The shipped sample has fewer characters and too few pair counts for 8,000 pieces.
TEST_VOCAB = 8000 if is_full_corpus() else 3000


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Real zh/en text: the shared corpus, or the sample shipped in tests/fixtures (tests/real_text.py)."""
    return real_corpus_dir()


@pytest.fixture(scope="session")
def corpus_texts(corpus_dir: Path) -> list[str]:
    """Every document text of the shared corpus, in file order."""
    return [json.loads(line)["text"] for path in sorted(corpus_dir.glob("*.jsonl")) for line in path.open()]


@pytest.fixture(scope="session")
def test_vocab_size() -> int:
    return TEST_VOCAB


@pytest.fixture(scope="session")
def trained_tokenizer(corpus_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tokenizer")
    config = TRAIN_TOKENIZER_COMMAND.build_config(
        [f"input={corpus_dir}", f"output={out}", f"vocab_size={TEST_VOCAB}"]
    )
    train_tokenizer(config)
    return out


@pytest.fixture(scope="session")
def corpus_shards(corpus_dir: Path, trained_tokenizer: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shards")
    tokenize(
        TokenizeConfig(
            input=str(corpus_dir), tokenizer=str(trained_tokenizer), output=str(out), num_workers=1
        )
    )
    return out
