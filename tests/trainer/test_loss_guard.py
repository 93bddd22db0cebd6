"""LossGuard: which losses are trusted, and when a streak of bad steps asks for a rollback."""

from __future__ import annotations

import math

import pytest

from pretrain.stability import LossGuard

STEADY = [2.0, 2.1, 1.9, 2.0, 2.05, 1.95]  # mean 2.0, population std ≈ 0.065


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_a_nonfinite_loss_is_bad_even_without_history(loss):
    assert LossGuard(sigma=6, min_history=20, max_bad_steps=3).judge(loss, []) == "nonfinite_loss"


def test_a_spike_is_judged_against_mean_plus_sigma_std_of_the_window():
    guard = LossGuard(sigma=3, min_history=len(STEADY), max_bad_steps=3)
    std = math.sqrt(sum((x - 2.0) ** 2 for x in STEADY) / len(STEADY))
    assert guard.judge(2.0 + 2.9 * std, STEADY) is None
    assert guard.judge(2.0 + 3.1 * std, STEADY) == "loss_spike"
    assert guard.judge(-100.0, STEADY) is None  # a sudden drop is not a spike


def test_no_spike_verdict_before_min_history_or_with_sigma_zero():
    assert LossGuard(sigma=3, min_history=len(STEADY) + 1, max_bad_steps=3).judge(50.0, STEADY) is None
    assert LossGuard(sigma=0, min_history=1, max_bad_steps=3).judge(50.0, STEADY) is None


def test_a_flat_window_still_tolerates_rounding_noise():
    # std 0 would make any higher loss a spike; the floor is 1e-3 of the mean.
    guard = LossGuard(sigma=6, min_history=3, max_bad_steps=3)
    assert guard.judge(2.0 + 6 * 2e-3 * 0.9, [2.0] * 5) is None
    assert guard.judge(2.0 + 6 * 2e-3 * 1.1, [2.0] * 5) == "loss_spike"


def test_rollback_after_max_bad_steps_consecutive_bad_steps_then_the_count_restarts():
    guard = LossGuard(sigma=6, min_history=20, max_bad_steps=3)
    assert [guard.record(bad) for bad in (True, True, False, True, True)] == [False] * 5  # a good step resets
    assert guard.consecutive_bad == 2
    assert guard.record(True) is True and guard.consecutive_bad == 0
    assert [guard.record(True) for _ in range(2)] == [False, False]


def test_max_bad_steps_zero_never_rolls_back():
    guard = LossGuard(sigma=6, min_history=20, max_bad_steps=0)
    assert not any(guard.record(True) for _ in range(50))
