"""Held-out perplexity: per-source token accounting over the loader's validation split, language aggregation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pretrain.data import DataConfig, PretrainDataLoader, SourceConfig
from pretrain.evaluation import held_out_losses, per_language, perplexity_table
from pretrain.evaluation.perplexity import perplexity_json, source_language
from tests.token_sources import write_token_source


def _source(directory, language, seed):
    rng = np.random.default_rng(seed)
    documents = [rng.integers(3, 100, size=int(rng.integers(20, 80))) for _ in range(50)]
    return str(write_token_source(directory, documents, language, vocab_size=100))


@pytest.fixture
def loader(tmp_path):
    sources = [SourceConfig(name=name, path=_source(tmp_path / name, lang, i))
               for i, (name, lang) in enumerate([("zh_a", "zh"), ("zh_b", "zh"), ("en_a", "en")])]
    return PretrainDataLoader(DataConfig(sources=sources, validation_fraction=0.2), seq_len=16, micro_batch_size=2)


def test_losses_per_source_and_token_weighted_per_language(loader):
    # A stand-in "loss": the batch's mean token id, so the expected per-source value is computable independently.
    def loss_fn(batch):
        return batch["input_ids"].float().mean()

    results = held_out_losses(loss_fn, loader, max_batches=3)
    by_name = {r.name: r for r in results}
    assert list(by_name) == ["zh_a", "zh_b", "en_a"]
    for name, r in by_name.items():
        ids = [b["input_ids"] for b in loader.validation_batches(name, 3)]
        assert r.tokens == sum(int(x.numel()) for x in ids) and 0 < r.tokens <= 3 * 2 * 16
        # Each batch loss is a float32 (as a model's is); the mean over batches is taken in float64, as held_out_losses does.
        assert r.loss == pytest.approx(float(np.mean([float(x.float().mean()) for x in ids])), rel=1e-9)
        assert r.perplexity == pytest.approx(math.exp(r.loss))
    assert [source_language(loader, n) for n in by_name] == ["zh", "zh", "en"]
    languages = {r.name: r for r in per_language(loader, results)}
    zh_a, zh_b = by_name["zh_a"], by_name["zh_b"]
    assert languages["zh"].tokens == zh_a.tokens + zh_b.tokens
    assert languages["zh"].loss == pytest.approx(
        (zh_a.tokens * zh_a.loss + zh_b.tokens * zh_b.loss) / (zh_a.tokens + zh_b.tokens))
    assert languages["en"].loss == pytest.approx(by_name["en_a"].loss)
    table = perplexity_table(results, list(languages.values()))
    assert "zh_b" in table and f"{by_name['en_a'].perplexity:.2f}" in table
    assert set(perplexity_json(results, list(languages.values()))["languages"]) == {"zh", "en"}


def test_the_batch_count_is_what_was_scored_not_what_was_asked(loader):
    """50 documents of 20-80 tokens, 20 % held out: far fewer than 100 global batches of 2 x 16 tokens exist."""
    results = held_out_losses(lambda batch: batch["input_ids"].float().mean(), loader, max_batches=100)
    for r in results:
        scored = sum(1 for _ in loader.validation_batches(r.name, 100))
        assert r.batches == scored < 100
    languages = per_language(loader, results)
    report = perplexity_json(results, languages)
    assert [report["sources"][r.name]["batches"] for r in results] == [r.batches for r in results]
    assert report["languages"]["zh"]["batches"] == sum(r.batches for r in results if r.name.startswith("zh"))
