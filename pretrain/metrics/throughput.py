"""Tokens/s, TFLOPS, MFU and HFU — the numbers Baichuan's 182 TFLOPS / 58.3 % claim is made of.

MFU counts the model FLOPs a step needs (6N + attention, see `pretrain.model.flops`); HFU also counts the
forward pass recomputed by activation checkpointing, i.e. what the hardware actually executed.
The peak is the GPU's dense bf16 table value (`cluster.gpu` or detected from the device name); on CPU it is a
matmul measured once at start-up, so MFU stays meaningful on the test machine.
"""

from __future__ import annotations

import time

import torch

from pretrain.model import ModelConfig
from pretrain.model.flops import PEAK_TFLOPS, flops_per_token


def detect_peak_tflops(default_gpu: str = "A800") -> tuple[str, float]:
    """(device label, peak dense bf16 TFLOPS per device)."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        for gpu, peak in PEAK_TFLOPS.items():
            if gpu in name:
                return gpu, peak
        return default_gpu, PEAK_TFLOPS[default_gpu]
    return "cpu", measure_cpu_matmul_tflops()


def measure_cpu_matmul_tflops(size: int = 1024, repeats: int = 4, trials: int = 3) -> float:
    """Best of a few timed fp32 matmuls: the fastest trial is the one least disturbed by other processes."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)  # warm up
    best = float("inf")
    for _ in range(trials):
        started = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 * repeats / best / 1e12


class ThroughputMeter:
    def __init__(self, model: ModelConfig, seq_len: int, world_size: int):
        self.world_size = world_size
        self.model_flops = flops_per_token(model, seq_len, recompute=False)
        self.hardware_flops = flops_per_token(model, seq_len, recompute=model.activation_checkpointing > 0)
        self.device, self.peak_tflops = detect_peak_tflops()

    def measure(self, tokens: int, seconds: float) -> dict:
        tokens_per_s = tokens / max(seconds, 1e-9)
        per_device = tokens_per_s / self.world_size
        tflops = per_device * self.model_flops / 1e12
        return {
            "tokens_per_s": tokens_per_s,
            "tokens_per_s_per_device": per_device,
            "tflops_per_device": tflops,
            "mfu": tflops / self.peak_tflops,
            "hfu": per_device * self.hardware_flops / 1e12 / self.peak_tflops,
            "memory_gb": _memory_gb(),
        }


def _memory_gb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    import psutil

    return psutil.Process().memory_info().rss / 2**30
