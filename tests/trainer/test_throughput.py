"""The throughput figures' inputs: each GPU's peak from its exact device name (no substring misfires), and HFU
counting the layers activation checkpointing actually recomputes."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import torch

from pretrain.metrics import throughput as throughput_module
from pretrain.metrics.throughput import ThroughputMeter
from pretrain.model import BaichuanForCausalLM, ModelConfig
from pretrain.model.flops import (
    GPU_PEAK_TFLOPS,
    checkpointed_layers,
    flops_per_token,
    gpu_from_device_name,
    hardware_flops_per_token,
)

# torch.cuda.get_device_name() strings as the drivers report them -> the table entry and its dense bf16 peak.
DEVICE_NAMES = [
    ("NVIDIA H100 80GB HBM3", "H100-SXM", 989.0),
    ("NVIDIA H100 PCIe", "H100-PCIe", 756.0),
    ("NVIDIA H100 NVL", "H100-NVL", 835.0),
    ("NVIDIA A100-SXM4-80GB", "A100-SXM", 312.0),
    ("NVIDIA A100-SXM4-40GB", "A100-SXM", 312.0),
    ("NVIDIA A100-PCIE-40GB", "A100-PCIe", 312.0),
    ("NVIDIA A100 80GB PCIe", "A100-PCIe", 312.0),
    ("NVIDIA A800-SXM4-80GB", "A800", 312.0),
    ("NVIDIA A800 80GB PCIe", "A800", 312.0),
    ("NVIDIA H800", "H800", 989.0),
    ("NVIDIA H800 PCIe", "H800-PCIe", 756.0),
    ("NVIDIA H20", "H20", 148.0),
    ("NVIDIA H200", "H200", 989.0),
    ("NVIDIA H200 NVL", "H200-NVL", 835.0),
    ("NVIDIA L40S", "L40S", 362.0),
    ("NVIDIA GeForce RTX 4090", "RTX4090", 165.2),
]


@pytest.mark.parametrize(("name", "label", "peak"), DEVICE_NAMES)
def test_device_names_map_to_their_exact_table_entry(monkeypatch, name, label, peak):
    assert gpu_from_device_name(name) == label and GPU_PEAK_TFLOPS[label] == peak
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)
    assert throughput_module.detect_peak_tflops("A800") == (label, peak)


@pytest.mark.parametrize("name", ["NVIDIA GeForce RTX 4090 D", "NVIDIA L40", "Tesla V100-SXM2-32GB", "NVIDIA A10",
                                  "NVIDIA GH200 480GB", "Some Future GPU"])
def test_an_unknown_device_falls_back_to_cluster_gpu_with_a_warning(monkeypatch, caplog, name):
    assert gpu_from_device_name(name) is None  # none of them is mistaken for a table entry by a substring
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)
    with caplog.at_level(logging.WARNING, logger="pretrain.metrics"):
        assert throughput_module.detect_peak_tflops("H20") == ("H20", 148.0)
    assert name in caplog.text and "cluster.gpu" in caplog.text


def test_the_table_is_every_gpu_the_issue_names_with_dense_bf16_peaks():
    assert set(GPU_PEAK_TFLOPS) == {"A100-SXM", "A100-PCIe", "A800", "H100-SXM", "H100-PCIe", "H100-NVL", "H800",
                                    "H800-PCIe", "H20", "H200", "H200-NVL", "L40S", "RTX4090"}


def _recomputed_layer_count(cfg: ModelConfig) -> int:
    """Run one training step and count the decoder layers whose forward ran twice (activation recompute)."""
    torch.manual_seed(0)
    model = BaichuanForCausalLM(cfg).train()
    calls = [0] * cfg.num_layers
    for i, layer in enumerate(model.model.layers):
        # A pre-hook: non-reentrant checkpointing may stop a recompute early, before the layer returns.
        layer.register_forward_pre_hook(lambda *a, i=i: calls.__setitem__(i, calls[i] + 1))
    ids = torch.randint(3, cfg.vocab_size, (1, 8))
    model(ids, labels=ids).backward()
    assert set(calls) <= {1, 2}
    return calls.count(2)


@pytest.mark.parametrize(("layers", "every"), [(4, 0), (4, 1), (4, 2), (5, 2), (4, 3), (3, 5)])
def test_hfu_counts_the_layers_activation_checkpointing_recomputes(layers, every):
    cfg = ModelConfig(vocab_size=97, hidden_size=32, num_layers=layers, num_heads=4, intermediate_size=64,
                      max_seq_len=64, attention="sdpa", activation_checkpointing=every)
    recomputed = _recomputed_layer_count(cfg)
    assert checkpointed_layers(cfg) == recomputed
    # One recomputed layer costs one more forward of that layer: 2 FLOPs per weight + its attention scores.
    h, i, seq = cfg.hidden_size, cfg.intermediate_size, 4096
    layer_forward = 2 * (4 * h * h + 3 * h * i) + 4 * h * seq
    assert hardware_flops_per_token(cfg, seq) == flops_per_token(cfg, seq) + recomputed * layer_forward
    meter = ThroughputMeter(cfg, seq, world_size=2, peak_tflops=100.0)
    out = meter.measure(tokens=2 * 1000, seconds=1.0)
    assert out["hfu"] == pytest.approx(out["mfu"] * hardware_flops_per_token(cfg, seq) / flops_per_token(cfg, seq))


def test_7b_hfu_with_every_other_layer_checkpointed_is_between_none_and_all():
    cfg = ModelConfig(vocab_size=64000, hidden_size=4096, num_layers=32, num_heads=32, intermediate_size=11008)
    none, half, every = (hardware_flops_per_token(replace(cfg, activation_checkpointing=k), 4096) for k in (0, 2, 1))
    assert none == flops_per_token(cfg, 4096)
    assert half - none == pytest.approx((every - none) / 2)  # 16 of 32 layers
    # The lm_head is never recomputed, so full checkpointing costs a little less than a 4/3 second forward.
    assert every / none < 4 / 3


def test_the_cpu_peak_measurement_fits_its_budget_on_a_slow_matmul(monkeypatch):
    # A CPU without native bf16 (AVX2 only) multiplies 1024² bf16 matrices in ~2.4 s: the fixed 21 products
    # took ~50 s of every bf16 start-up. A fake clock charges 1 s per 2·1024³ FLOPs; the measurement must
    # shrink the matrix to stay within its budget and still report that rate.
    clock = {"now": 0.0}
    real_mm = torch.mm

    def slow_mm(a, b):
        clock["now"] += 2 * a.shape[0] * a.shape[1] * b.shape[1] / (2 * 1024**3)
        return real_mm(a, b)

    monkeypatch.setattr(throughput_module.torch, "mm", slow_mm)
    monkeypatch.setattr(throughput_module.time, "perf_counter", lambda: clock["now"])
    tflops = throughput_module.measure_cpu_matmul_tflops(dtype=torch.float32, budget_s=2.0)
    assert clock["now"] <= 2.0 + 2 * 0.02  # the budget plus the probe and the warm-up product
    assert tflops == pytest.approx(2 * 1024**3 / 1e12)
