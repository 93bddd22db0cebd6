"""Tokens/s, TFLOPS, MFU and HFU — the numbers Baichuan's 182 TFLOPS / 58.3 % claim is made of.

MFU counts the model FLOPs a step needs (6N + attention, see `pretrain.model.flops`); HFU also counts the
forward of each layer activation checkpointing recomputes, i.e. what the hardware actually executed.
The peak is the GPU's dense bf16 table value, found from the exact device name (`cluster.gpu`, validated
before launch, when the name is not in the table); on CPU it is a
matmul in the training dtype measured once at start-up by every rank at the same time (so it sees the same
contention as training), max-reduced so all ranks report against one peak. Formulas: docs/trainer.md.
"""

from __future__ import annotations

import logging
import time

import psutil
import torch
import torch.distributed as dist

from pretrain.model import ModelConfig
from pretrain.model.flops import (
    GPU_PEAK_TFLOPS,
    flops_per_token,
    gpu_from_device_name,
    hardware_flops_per_token,
)

log = logging.getLogger(__name__)
_MATMUL_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def detect_peak_tflops(default_gpu: str = "A800", precision: str = "bf16") -> tuple[str, float]:
    """(device label, peak dense TFLOPS per device: the bf16 table value on GPUs, measured on CPU).

    On CPU with a process group this is a collective (barrier + all-reduce): call it on every rank."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        gpu = gpu_from_device_name(name)
        if gpu is None:
            gpu = default_gpu
            log.warning("GPU %r is not in the peak table; MFU/HFU use cluster.gpu=%s (%.1f TFLOPS) — set "
                        "cluster.gpu to this GPU's entry if that is wrong", name, gpu, GPU_PEAK_TFLOPS[gpu])
        return gpu, GPU_PEAK_TFLOPS[gpu]
    return "cpu", _agreed_peak(measure_cpu_matmul_tflops(dtype=_MATMUL_DTYPES[precision]))


def _agreed_peak(local_peak: float) -> float:
    """With a process group, every rank measured at once; the best of them is the one peak all report against."""
    if not (dist.is_available() and dist.is_initialized()):
        return local_peak
    value = torch.tensor([local_peak], dtype=torch.float64)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return float(value.item())


def measure_cpu_matmul_tflops(size: int = 1024, repeats: int = 4, trials: int = 5,
                              dtype: torch.dtype = torch.float32, budget_s: float = 2.0) -> float:
    """Best of a few timed matmuls in the training dtype (a bf16 matmul can run several times faster than an
    fp32 one on CPUs with AMX/AVX512-BF16): the fastest trial is the one least disturbed by other processes.

    The matrix shrinks (down to 256) until the trials fit `budget_s` by a first probe: on a CPU without native
    bf16 (AVX2 only) one 1024² bf16 matmul takes ~2.4 s, and the fixed-size measurement cost every bf16 start-up
    about a minute."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()  # all ranks measure together, as they will train together
    size = _affordable_size(size, repeats * trials, dtype, budget_s)
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)  # warm up
    best = float("inf")
    for _ in range(trials):
        started = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 * repeats / best / 1e12


def _affordable_size(size: int, matmuls: int, dtype: torch.dtype, budget_s: float, probe: int = 256) -> int:
    """The largest of size, size/2, ... (>= probe) whose `matmuls` products fit `budget_s`, judged from one
    probe-sized product (time grows as n³; a small product runs no faster per FLOP, so the guess is safe)."""
    a = torch.randn(probe, probe, dtype=dtype)
    torch.mm(a, a)
    started = time.perf_counter()
    torch.mm(a, a)
    seconds_per_flop = (time.perf_counter() - started) / (2 * probe**3)
    while size > probe and matmuls * 2 * size**3 * seconds_per_flop > budget_s:
        size //= 2
    return max(size, probe)


class ThroughputMeter:
    """Per-step throughput: MFU = tokens/s per device × model FLOPs per token / peak; HFU counts recompute."""

    def __init__(self, model: ModelConfig, seq_len: int, world_size: int, precision: str = "bf16",
                 gpu: str = "A800", peak_tflops: float | None = None):
        self.world_size = world_size
        self.model_flops = flops_per_token(model, seq_len)
        self.hardware_flops = hardware_flops_per_token(model, seq_len)
        if peak_tflops is None:
            self.device, self.peak_tflops = detect_peak_tflops(gpu, precision)
        else:
            self.device, self.peak_tflops = "given", peak_tflops

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
    return psutil.Process().memory_info().rss / 2**30
