"""The mixture: fractions from the config, and a deterministic, exact global sample order."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from pretrain.data import DataConfigError, SourceConfig
from pretrain.data.mixture import MixtureSchedule, cumulative_counts, resolve_fractions


def test_target_fractions_are_taken_as_given():
    sources = [SourceConfig("zh", "a", target_fraction=0.6), SourceConfig("en", "b", target_fraction=0.4)]
    assert resolve_fractions(sources, [10, 1_000_000]) == pytest.approx([0.6, 0.4])


def test_weights_scale_natural_size_and_share_what_targets_leave():
    sources = [
        SourceConfig("code", "a", target_fraction=0.2),
        SourceConfig("web", "b"),  # weight 1
        SourceConfig("books", "c", weight=3.0),  # upsampled 3x
    ]
    # web: 1 * 600, books: 3 * 200 -> equal mass, sharing the remaining 0.8
    assert resolve_fractions(sources, [50, 600, 200]) == pytest.approx([0.2, 0.4, 0.4])


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ([SourceConfig("a", "x", target_fraction=0.5), SourceConfig("b", "y", target_fraction=0.3)], "not 1"),
        ([SourceConfig("a", "x", target_fraction=0.7), SourceConfig("b", "y", target_fraction=0.7)], "> 1"),
        ([SourceConfig("a", "x", target_fraction=1.0), SourceConfig("b", "y", weight=2.0)], "nothing for"),
        ([SourceConfig("a", "x", weight=-1.0)], "positive"),
        ([SourceConfig("a", "x", weight=1.0, target_fraction=1.0)], "both"),
    ],
)
def test_impossible_mixtures_are_refused_with_a_reason(sources, message):
    with pytest.raises(DataConfigError, match=message):
        resolve_fractions(sources, [100] * len(sources))


def test_counts_are_exact_at_every_block_boundary():
    fractions = np.array([0.6, 0.3, 0.1])
    schedule = MixtureSchedule(fractions, block_size=100, seed=7)
    seen = Counter(schedule.locate(g)[0] for g in range(1000))
    assert [seen[i] for i in range(3)] == [600, 300, 100]
    assert cumulative_counts(np.array([1 / 3, 1 / 3, 1 / 3]), 100).tolist() == [34, 33, 33]


def test_each_source_is_consumed_in_order_without_gaps_or_repeats():
    schedule = MixtureSchedule([0.5, 0.25, 0.25], block_size=64, seed=3)
    per_source: dict[int, list[int]] = {}
    for g in range(640):
        source, k = schedule.locate(g)
        per_source.setdefault(source, []).append(k)
    for ks in per_source.values():
        assert ks == list(range(len(ks)))


def test_order_is_a_function_of_the_seed_only():
    a = [MixtureSchedule([0.7, 0.3], 50, seed=1).locate(g) for g in range(300)]
    b = MixtureSchedule([0.7, 0.3], 50, seed=1)
    # random access (e.g. after a resume) gives what sequential access gave
    assert [b.locate(g) for g in reversed(range(300))][::-1] == a
    c = [MixtureSchedule([0.7, 0.3], 50, seed=2).locate(g) for g in range(300)]
    assert c != a


def test_tiny_fractions_enlarge_the_block_instead_of_breaking():
    schedule = MixtureSchedule([0.999, 0.001], block_size=16, seed=0)
    assert schedule.block_size >= 2000
    seen = Counter(schedule.locate(g)[0] for g in range(schedule.block_size * 2))
    assert seen[1] == round(0.001 * schedule.block_size * 2)


def test_zh_en_preset_resolves_to_its_documented_fractions(shard_factory, monkeypatch):
    """conf/data/zh_en.yaml: zh fixed at 0.45 + 0.15, the other 0.4 split by weight x tokens."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from pretrain.data import DataConfig, PretrainDataLoader

    sizes = {"zh_web-a": 30, "zh_web-b": 30, "zh_books": 20, "en_web-a": 40, "en_books": 10, "code": 20}
    for name, docs in sizes.items():
        shard_factory.source(name, shard_factory.documents(len(name), docs, min_len=50, max_len=50), shards=1)
    monkeypatch.setenv("BAICHUAN_SHARDS", str(shard_factory.root))
    preset = Path(__file__).resolve().parents[2] / "conf" / "data" / "zh_en.yaml"
    config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DataConfig), OmegaConf.load(preset)))
    loader = PretrainDataLoader(config, seq_len=16, micro_batch_size=1)
    fractions = dict(zip([s.name for s in loader.sources], loader.fractions))
    assert len(loader.sources[0].shards.directories) == 2  # the zh_web* glob
    mass = {
        name: weight * loader.sources[i].train.epoch_tokens
        for i, (name, weight) in enumerate([("en_web", 1.0), ("en_books", 3.0), ("code", 2.0)], start=2)
    }
    assert fractions["zh_web"] == pytest.approx(0.45) and fractions["zh_books"] == pytest.approx(0.15)
    for name, m in mass.items():
        assert fractions[name] == pytest.approx(0.4 * m / sum(mass.values()))
