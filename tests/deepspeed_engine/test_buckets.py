"""The bucket rule and the probe's least-squares fit and choice, on known numbers."""

from __future__ import annotations

import pytest

from pretrain.config import ConfigError, compose_config
from pretrain.distributed import CommProfile, choose_bucket_sizes, fit_latency_bandwidth, rule_bucket_sizes
from pretrain.distributed.buckets import ALIGN, MAX_BUCKET, latency_bound_elements

SOURCES = "data.sources=[{name: zh, path: /tmp/none}]"


def test_fit_recovers_latency_and_bandwidth_of_exact_timings():
    latency, bandwidth = 50e-6, 10e9
    sizes = [16 << 10, 256 << 10, 2 << 20, 8 << 20]
    fit = fit_latency_bandwidth("all_reduce", sizes, [latency + s / bandwidth for s in sizes])
    assert fit.latency_s == pytest.approx(latency, rel=1e-9)
    assert fit.bandwidth_bytes_per_s == pytest.approx(bandwidth, rel=1e-9)


def test_weighted_fit_keeps_latency_positive_under_proportional_noise():
    """±5 % jitter on each time: an unweighted fit lets the 8 MiB point's jitter (~40 us) swamp a 20 us
    latency; weighting by 1/t² keeps the small messages in charge of the intercept."""
    latency, bandwidth = 20e-6, 1e9
    sizes = [16 << 10, 256 << 10, 2 << 20, 8 << 20]
    jitter = [1.05, 0.95, 1.05, 0.95]
    fit = fit_latency_bandwidth("all_gather", sizes, [(latency + s / bandwidth) * j for s, j in zip(sizes, jitter)])
    assert 0 < fit.latency_s < 3 * latency and fit.bandwidth_bytes_per_s == pytest.approx(bandwidth, rel=0.15)


def test_fit_needs_two_distinct_sizes():
    with pytest.raises(ValueError, match="two or more distinct"):
        fit_latency_bandwidth("all_reduce", [1024, 1024], [1e-5, 1e-5])


def test_latency_bound_is_the_smallest_bucket_within_the_latency_share():
    fit = fit_latency_bandwidth("reduce_scatter", [1 << 20, 4 << 20], [100e-6 + s / 5e9 for s in (1 << 20, 4 << 20)])
    elements = latency_bound_elements(fit, latency_share=0.1, bytes_per_element=2)
    # latency ≤ 10 % of transfer time ⇔ bytes ≥ 100 us × 5 GB/s / 0.1 = 5 MB = 2.5 M bf16 elements
    assert elements == -(-2_500_000 // ALIGN) * ALIGN
    transfer = elements * 2 / fit.bandwidth_bytes_per_s
    assert fit.latency_s <= 0.1 * transfer
    assert fit.latency_s > 0.1 * (elements - ALIGN) * 2 / fit.bandwidth_bytes_per_s  # one step smaller fails


def _profile(latency_s: float, bandwidth: float) -> CommProfile:
    sizes = [1 << 20, 8 << 20]
    fits = {op: fit_latency_bandwidth(op, sizes, [latency_s + s / bandwidth for s in sizes])
            for op in ("all_reduce", "all_gather", "reduce_scatter")}
    return CommProfile(world_size=2, backend="gloo", fits=fits)


def test_probe_buckets_grow_with_latency_and_shrink_with_a_looser_share():
    config = compose_config(["model=tiny", SOURCES, "comm.latency_share=0.1"])
    slow = choose_bucket_sizes(config, 2, _profile(200e-6, 10e9))
    fast = choose_bucket_sizes(config, 2, _profile(20e-6, 10e9))
    assert slow.source == fast.source == "probe" and slow.reduce > fast.reduce
    loose = compose_config(["model=tiny", SOURCES, "comm.latency_share=0.4"])
    assert choose_bucket_sizes(loose, 2, _profile(200e-6, 10e9)).reduce < slow.reduce
    fp32 = compose_config(["model=tiny", SOURCES, "train.precision=fp32"])
    assert choose_bucket_sizes(fp32, 2, _profile(200e-6, 10e9)).reduce == pytest.approx(slow.reduce / 2, abs=ALIGN)


def test_unusable_fit_falls_back_to_the_rule_and_fixed_ignores_the_probe():
    config = compose_config(["model=tiny", SOURCES])
    noisy = _profile(-5e-6, 10e9)  # negative intercept: noise beat the latency
    assert choose_bucket_sizes(config, 2, noisy) == rule_bucket_sizes(config.model.hidden_size, 2)
    fixed = compose_config(["model=tiny", SOURCES, "deepspeed.buckets=fixed", "deepspeed.reduce_bucket_size=123"])
    assert choose_bucket_sizes(fixed, 2, _profile(200e-6, 10e9)).reduce == 123


def test_rule_grows_with_world_and_hidden_size_and_stays_in_range():
    assert rule_bucket_sizes(4096, 1024).reduce > rule_bucket_sizes(4096, 8).reduce > rule_bucket_sizes(64, 8).reduce
    assert rule_bucket_sizes(5120, 1 << 20).reduce == MAX_BUCKET // ALIGN * ALIGN  # capped
    assert rule_bucket_sizes(4096, 8).prefetch == 100_000_000 // ALIGN * ALIGN  # 12·h² = 201 M, capped
    sizes = rule_bucket_sizes(2048, 16)  # a quarter layer (12.6 M) × log2(16) hops; prefetch one layer
    assert sizes.reduce == -(-12 * 2048 * 2048 // 4 * 4 // ALIGN) * ALIGN
    assert sizes.prefetch == -(-12 * 2048 * 2048 // ALIGN) * ALIGN and sizes.reduce % ALIGN == 0


@pytest.mark.parametrize(("override", "fragment"), [
    ("comm.latency_share=1.5", "comm.latency_share=1.5 must be in (0, 1)"),
    ("comm.probe_sizes_kib=[64]", "needs two or more distinct positive sizes"),
    ("comm.probe_repeats=0", "comm.probe_repeats=0 must be >= 1"),
])
def test_bad_comm_settings_are_one_line_config_errors(override, fragment):
    # validate_config runs check_comm_config: the bad value fails at composition, before any rank starts.
    with pytest.raises(ConfigError) as err:
        compose_config(["model=tiny", SOURCES, override])
    assert fragment in str(err.value) and "\n" not in str(err.value)
