"""DoReMi: the weight update's arithmetic, and the direction of the learned weights on a known answer."""

from __future__ import annotations

import math

import pytest
import torch

from pretrain.mixing import (
    DoReMiConfig,
    exponentiated_gradient_step,
    learn_doremi_weights,
    learned_data_config,
)
from pretrain.mixing.learned_config import rounded_fractions


def test_exponentiated_gradient_step_matches_the_formula():
    alpha = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    excess = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    got = exponentiated_gradient_step(alpha, excess, step_size=0.5, smoothing=0.1)
    raw = [0.5 * math.exp(0.0), 0.3 * math.exp(0.5), 0.2 * math.exp(1.0)]
    expected = [0.9 * r / sum(raw) + 0.1 / 3 for r in raw]
    assert got.tolist() == pytest.approx(expected, rel=1e-12)
    assert float(got.sum()) == pytest.approx(1.0, abs=1e-12)


def test_zero_excess_keeps_weights_and_smoothing_keeps_them_positive():
    alpha = torch.tensor([0.7, 0.3], dtype=torch.float64)
    same = exponentiated_gradient_step(alpha, torch.zeros(2, dtype=torch.float64), 1.0, 0.0)
    assert same.tolist() == pytest.approx([0.7, 0.3], rel=1e-12)
    # A huge excess on one domain drives the other to the smoothing floor, never to 0.
    floored = exponentiated_gradient_step(alpha, torch.tensor([0.0, 1e4], dtype=torch.float64), 1.0, 1e-3)
    assert floored[0] == pytest.approx(1e-3 / 2, rel=1e-6)


def test_rounded_fractions_sum_to_one_and_stay_positive():
    fractions = rounded_fractions([1e-9, 0.333333333, 0.666666667])
    assert sum(fractions) == pytest.approx(1.0, abs=1e-9)
    assert min(fractions) > 0


def test_noise_is_downweighted_and_the_learnable_domain_upweighted(noise_and_pattern, small_model):
    # The reference learns the pattern; the fresh proxy lags it there (large excess) but cannot lag it on noise
    # (both sit at ~log 61 nats, excess ~0). DoReMi must move weight from noise to the pattern.
    config = DoReMiConfig(reference_steps=40, proxy_steps=30, seq_len=32, batch_size=8, samples_per_domain=4,
                          lr=3e-3, log_interval=1000)
    result = learn_doremi_weights(noise_and_pattern, small_model, config)
    weights = dict(zip(result.domains, result.weights))
    excess = dict(zip(result.domains, result.mean_excess))
    assert result.initial == pytest.approx([0.5, 0.5])
    assert excess["pattern"] > 5 * excess["noise"]
    assert weights["pattern"] > 0.75 and weights["noise"] < 0.25
    assert sum(result.weights) == pytest.approx(1.0, abs=1e-9)
    # The reference really learned the pattern and not the noise.
    ref = dict(zip(result.domains, result.reference_loss))
    assert ref["pattern"] < 1.5 < math.log(61) - 0.2 < ref["noise"]
    learned = learned_data_config(noise_and_pattern, result)
    assert [s.target_fraction for s in learned.sources] == pytest.approx(result.weights, abs=1e-5)
    assert all(s.weight is None for s in learned.sources)
