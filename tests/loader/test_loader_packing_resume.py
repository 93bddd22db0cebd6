"""PretrainDataLoader: packing, rank split, exact resume across dp sizes, refusal on changed data, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pretrain.data import DataConfig, DataStateMismatchError, PretrainDataLoader, SourceConfig


def make_config(paths, fractions=(0.6, 0.4), seed=1234, **kwargs) -> DataConfig:
    sources = [
        SourceConfig(name, str(path), target_fraction=f) for (name, path), f in zip(paths.items(), fractions)
    ]
    return DataConfig(sources=sources, seed=seed, mixture_block_size=64, window_shuffle_block=16, **kwargs)


def global_samples(config, steps, mb, dp, seq_len=32, state=None):
    """The global sample stream seen by `dp` ranks over `steps` micro-steps (rank-ordered per step), plus the
    final state of rank 0."""
    loaders = [
        PretrainDataLoader(config, seq_len=seq_len, micro_batch_size=mb, dp_rank=r, dp_size=dp)
        for r in range(dp)
    ]
    if state is not None:
        for loader in loaders:
            loader.load_state_dict(json.loads(json.dumps(state)))
    iters = [iter(loader) for loader in loaders]
    rows = []
    for _ in range(steps):
        for it in iters:
            batch = next(it)
            rows.extend(torch.cat([batch["input_ids"], batch["labels"][:, -1:]], dim=1).tolist())
    return rows, loaders[0].state_dict()


def test_batch_shapes_and_shifted_labels(two_sources):
    loader = PretrainDataLoader(
        make_config(two_sources), seq_len=32, micro_batch_size=4, dp_rank=0, dp_size=1
    )
    batch = next(iter(loader))
    assert set(batch) == {"input_ids", "labels", "doc_ids", "cu_seqlens", "max_seqlen"}  # see test_batch_transfer
    for name in ("input_ids", "labels", "doc_ids"):
        assert batch[name].shape == (4, 32) and batch[name].dtype == torch.long
    assert torch.equal(batch["input_ids"][:, 1:], batch["labels"][:, :-1])
    assert loader.state_dict()["consumed_samples"] == 4


def test_windows_tile_one_source_and_doc_ids_follow_eos(shard_factory):
    docs = shard_factory.documents(5, 40, max_len=50)
    path = shard_factory.source("only", docs, shards=2)
    config = DataConfig([SourceConfig("only", str(path))], validation_fraction=0.0, window_shuffle_block=1)
    loader = PretrainDataLoader(config, seq_len=16, micro_batch_size=1)
    stream = loader.sources[0].train
    epoch_tokens = stream.epoch_tokens
    windows = [loader.global_sample(k) for k in range(epoch_tokens // 16)]
    # consecutive windows overlap by exactly one token: every token is a label once
    for (a, _), (b, _) in zip(windows, windows[1:]):
        assert a[-1] == b[0]
    tokens = np.concatenate([windows[0][0]] + [w[1:] for w, _ in windows[1:]])
    order = list(stream.epoch_documents(0))
    assert sorted(order) == list(range(40))
    expected = np.concatenate([np.append(docs[d], shard_factory.eos) for d in order])
    np.testing.assert_array_equal(tokens, expected[: tokens.size])
    for window, doc_ids in windows:
        # a new document number starts exactly after each EOS
        starts = np.flatnonzero(np.diff(doc_ids)) + 1
        assert (window[starts - 1] == shard_factory.eos).all()
        assert doc_ids[0] == 0


def test_ranks_split_each_global_batch(two_sources):
    config = make_config(two_sources)
    one_rank, _ = global_samples(config, steps=3, mb=4, dp=1)
    two_ranks, _ = global_samples(config, steps=3, mb=2, dp=2)
    four_ranks, _ = global_samples(config, steps=3, mb=1, dp=4)
    assert one_rank == two_ranks == four_ranks


@pytest.mark.parametrize(("dp_before", "dp_after"), [(2, 2), (2, 1), (1, 2)])
def test_resume_continues_at_the_next_global_sample(two_sources, dp_before, dp_after):
    config = make_config(two_sources)
    reference, _ = global_samples(config, steps=12, mb=2, dp=1)  # 24 samples, uninterrupted
    first, state = global_samples(config, steps=6 // dp_before, mb=2, dp=dp_before)
    assert state["consumed_samples"] == 12
    second, _ = global_samples(config, steps=12 // (2 * dp_after), mb=2, dp=dp_after, state=state)
    assert first + second == reference


def test_state_is_json_and_carries_seed_and_fingerprint(two_sources):
    loader = PretrainDataLoader(make_config(two_sources, seed=99), seq_len=32, micro_batch_size=2)
    state = loader.state_dict()
    assert json.loads(json.dumps(state)) == state
    assert state["seed"] == 99 and state["consumed_samples"] == 0 and len(state["fingerprint"]) == 16


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fractions": (0.5, 0.5)}, "source 'zh' shards or weight changed"),
        ({"seed": 7}, "seed 1234 -> 7"),
        ({"seq_len": 64}, "seq_len 32 -> 64"),
    ],
)
def test_resume_refuses_a_changed_mixture(two_sources, change, message):
    saved = PretrainDataLoader(make_config(two_sources), seq_len=32, micro_batch_size=2).state_dict()
    config = make_config(
        two_sources, fractions=change.get("fractions", (0.6, 0.4)), seed=change.get("seed", 1234)
    )
    loader = PretrainDataLoader(config, seq_len=change.get("seq_len", 32), micro_batch_size=2)
    with pytest.raises(DataStateMismatchError, match=message) as err:
        loader.load_state_dict(saved)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


def test_resume_refuses_rewritten_shards(two_sources, shard_factory):
    saved = PretrainDataLoader(make_config(two_sources), seq_len=32, micro_batch_size=2).state_dict()
    shard_factory.source("en", shard_factory.documents(2, 16, max_len=80), shards=1)  # one more document
    with pytest.raises(DataStateMismatchError, match="source 'en'"):
        PretrainDataLoader(make_config(two_sources), seq_len=32, micro_batch_size=2).load_state_dict(saved)


def test_small_source_is_upsampled_with_a_new_order_each_epoch(two_sources):
    loader = PretrainDataLoader(
        make_config(two_sources, fractions=(0.5, 0.5)), seq_len=32, micro_batch_size=1
    )
    en = loader.sources[1].train
    windows_per_epoch = en.epoch_tokens // 32
    samples = [loader.global_sample(g) for g in range(6 * windows_per_epoch)]
    assert sum(loader.source_of(g) == "en" for g in range(len(samples))) == 3 * windows_per_epoch
    assert list(en.epoch_documents(0)) != list(en.epoch_documents(1))


def test_validation_documents_are_held_out_and_batches_repeat(two_sources):
    config = make_config(two_sources, validation_fraction=0.1)
    loader = PretrainDataLoader(config, seq_len=32, micro_batch_size=2, dp_rank=1, dp_size=2)
    for source in loader.sources:
        train, held_out = set(source.train.epoch_documents(0)), set(source.validation.epoch_documents(0))
        assert held_out and not train & held_out
        assert len(train) + len(held_out) == source.shards.num_documents
    first = list(loader.validation_batches("zh", max_batches=3))
    again = list(loader.validation_batches("zh", max_batches=3))
    assert len(first) >= 1 and all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(first, again))
    tiny = list(loader.validation_batches("en", max_batches=3))  # 2 held-out docs: read cyclically
    assert len(tiny) == 1 and tiny[0]["input_ids"].shape == (2, 32)


def test_describe_reports_effective_share_and_epochs(two_sources):
    loader = PretrainDataLoader(make_config(two_sources), seq_len=32, micro_batch_size=2)
    text = loader.describe(total_samples=1000)
    assert "zh" in text and "60.00%" in text and "40.00%" in text and "epochs" in text


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mb=st.integers(1, 3),
    dp_before=st.integers(1, 4),
    dp_after=st.integers(1, 4),
    steps_before=st.integers(0, 5),
)
def test_any_interruption_on_any_dp_sizes_replays_the_same_samples(
    two_sources, mb, dp_before, dp_after, steps_before
):
    config = make_config(two_sources, fractions=(0.7, 0.3))
    first, state = global_samples(config, steps=steps_before, mb=mb, dp=dp_before, seq_len=16)
    second, _ = global_samples(config, steps=3, mb=mb, dp=dp_after, seq_len=16, state=state)
    total = len(first) + len(second)
    reference, _ = global_samples(config, steps=total, mb=1, dp=1, seq_len=16)
    assert first + second == reference


def test_a_source_smaller_than_one_window_wraps_across_epochs(shard_factory):
    docs = shard_factory.documents(9, 3, min_len=4, max_len=4)  # 3 docs x (4 + EOS) = 15 tokens per epoch
    path = shard_factory.source("tiny", docs, shards=1)
    loader = PretrainDataLoader(
        DataConfig([SourceConfig("tiny", str(path))], validation_fraction=0.0), seq_len=64, micro_batch_size=2
    )
    batch = next(iter(loader))
    assert batch["input_ids"].shape == (2, 64)
    tokens, doc_ids = loader.global_sample(0)
    eos_before_last = int((tokens[:-1] == shard_factory.eos).sum())
    assert eos_before_last >= 12  # 65 tokens span at least 13 documents of 5 tokens, over several epochs
    assert doc_ids.tolist() == sorted(doc_ids.tolist()) and doc_ids[-1] == eos_before_last
