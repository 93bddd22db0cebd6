"""Resuming on fewer ranks keeps the checkpoint's global batch (more accumulation), or refuses in one line."""

import pytest

from pretrain.checkpoint.global_batch import keep_global_batch, saved_global_batch
from pretrain.config import ConfigError, PretrainConfig, resolve_batch_layout


def _config(micro: int, global_batch: int) -> PretrainConfig:
    config = PretrainConfig()
    config.train.micro_batch_size, config.train.global_batch_size = micro, global_batch
    return config


def test_the_saved_global_batch_is_explicit_or_micro_times_the_saved_world():
    assert saved_global_batch("train:\n  micro_batch_size: 4\n  global_batch_size: 64\n", 16) == 64
    assert saved_global_batch("train:\n  micro_batch_size: 4\n  global_batch_size: 0\n", 16) == 64


def test_an_explicit_global_batch_raises_accumulation_on_fewer_ranks():
    config = _config(micro=4, global_batch=64)
    keep_global_batch(config, saved_global=64, world_size=8)  # 16 ranks -> 8: accumulation 1 -> 2
    assert resolve_batch_layout(config.train, 8).gradient_accumulation_steps == 2


def test_an_implied_global_batch_is_pinned_to_the_checkpoints_instead_of_shrinking():
    config = _config(micro=4, global_batch=0)  # "micro x ranks": 64 on 16 ranks, would be 32 on 8
    keep_global_batch(config, saved_global=64, world_size=8)
    assert config.train.global_batch_size == 64
    layout = resolve_batch_layout(config.train, 8)
    assert (layout.gradient_accumulation_steps, layout.global_batch_size) == (2, 64)


def test_no_layout_that_fits_is_one_line_naming_the_rank_counts_that_do():
    config = _config(micro=4, global_batch=0)
    with pytest.raises(ConfigError) as refused:
        keep_global_batch(config, saved_global=64, world_size=3)
    message = str(refused.value)
    assert "\n" not in message and "global batch 64 on 3 rank(s)" in message
    assert "resume on one of [1, 2, 4, 8, 16] ranks" in message


def test_a_changed_explicit_global_batch_is_still_a_refused_config_change():
    with pytest.raises(ConfigError, match="train.global_batch_size: 64 -> 32"):
        keep_global_batch(_config(micro=4, global_batch=32), saved_global=64, world_size=8)
