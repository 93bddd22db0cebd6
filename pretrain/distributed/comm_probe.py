"""Measure the cluster's collectives at start-up and fit the alpha-beta model `time = latency + bytes / bandwidth`.

Every rank takes part (the probe is a sequence of collectives on the current process group). Each timing is
max-reduced across ranks before fitting — a collective is as slow as its slowest rank — so every rank fits the
same numbers and later derives the same bucket sizes; DeepSpeed would deadlock if ranks disagreed on them.
Works on any backend torch.distributed offers (NCCL on GPUs, gloo on the CPU test machines).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter")


@dataclass(frozen=True)
class CollectiveFit:
    """Least-squares fit of one collective's time against message size (bytes per rank's full buffer)."""

    op: str
    latency_s: float
    bandwidth_bytes_per_s: float
    sizes_bytes: tuple[int, ...]
    seconds: tuple[float, ...]  # the median (across repeats) of the slowest rank, per size

    def predict(self, size_bytes: float) -> float:
        return self.latency_s + size_bytes / self.bandwidth_bytes_per_s


@dataclass(frozen=True)
class CommProfile:
    world_size: int
    backend: str
    fits: dict[str, CollectiveFit]

    def as_metrics(self) -> dict[str, float]:
        """Flat numbers for the metrics record: comm/<op>/latency_us and comm/<op>/bandwidth_gbps (GB/s)."""
        out: dict[str, float] = {}
        for op, fit in self.fits.items():
            out[f"comm/{op}/latency_us"] = fit.latency_s * 1e6
            if math.isfinite(fit.bandwidth_bytes_per_s):  # inf is not valid JSON
                out[f"comm/{op}/bandwidth_gbps"] = fit.bandwidth_bytes_per_s / 1e9
        return out

    def to_dict(self) -> dict:
        return {"world_size": self.world_size, "backend": self.backend,
                "fits": {op: asdict(fit) for op, fit in self.fits.items()}}


def fit_latency_bandwidth(op: str, sizes_bytes: list[int], seconds: list[float]) -> CollectiveFit:
    """Least squares of t = a + b·s weighted by 1/t², i.e. minimising *relative* residuals.

    Timing noise grows with the time measured (a 10 ms transfer on a shared machine jitters by milliseconds, a
    50 us one by microseconds); unweighted least squares would let the large messages' noise swamp the latency
    that only the small messages can reveal. Latency a and bandwidth 1/b may still come out non-positive when
    the measurements are too noisy to separate them; the caller checks `is_usable`.
    """
    n = len(sizes_bytes)
    if n < 2 or len(set(sizes_bytes)) < 2 or len(seconds) != n:
        raise ValueError("need timings at two or more distinct message sizes to fit latency and bandwidth")
    weights = [1.0 / max(t, 1e-12) ** 2 for t in seconds]
    total = sum(weights)
    mean_s = sum(w * s for w, s in zip(weights, sizes_bytes)) / total
    mean_t = sum(w * t for w, t in zip(weights, seconds)) / total
    var = sum(w * (s - mean_s) ** 2 for w, s in zip(weights, sizes_bytes))
    cov = sum(w * (s - mean_s) * (t - mean_t) for w, s, t in zip(weights, sizes_bytes, seconds))
    slope = cov / var
    latency = mean_t - slope * mean_s
    bandwidth = 1.0 / slope if slope > 0 else float("inf")
    return CollectiveFit(op, latency, bandwidth, tuple(sizes_bytes), tuple(seconds))


def is_usable(fit: CollectiveFit) -> bool:
    return fit.latency_s > 0 and 0 < fit.bandwidth_bytes_per_s < float("inf")


def _run_collective(op: str, buffer: torch.Tensor, out: torch.Tensor, world: int) -> None:
    if op == "all_reduce":
        dist.all_reduce(buffer)
    elif op == "all_gather":
        # Each rank contributes 1/world of the message, everyone receives all of it (ZeRO's parameter gather).
        dist.all_gather_into_tensor(out, buffer[: buffer.numel() // world])
    elif op == "reduce_scatter":
        # Each rank sends the whole message and keeps its reduced 1/world (ZeRO's gradient reduction).
        dist.reduce_scatter_tensor(out[: buffer.numel() // world], buffer)
    else:
        raise ValueError(f"unknown collective {op!r}")


def _time_collective(op: str, size_bytes: int, repeats: int, device: torch.device, dtype: torch.dtype) -> float:
    world = dist.get_world_size()
    element = torch.tensor([], dtype=dtype).element_size()
    numel = max(world, size_bytes // element // world * world)  # divisible by world for gather/scatter
    buffer = torch.ones(numel, dtype=dtype, device=device)
    out = torch.empty(numel, dtype=dtype, device=device)
    _run_collective(op, buffer, out, world)  # warm-up: first call sets up communicators and buffers
    samples = []
    for _ in range(repeats):
        dist.barrier()
        _synchronize(device)
        started = time.perf_counter()
        _run_collective(op, buffer, out, world)
        _synchronize(device)
        samples.append(time.perf_counter() - started)
    slowest = torch.tensor([statistics.median(samples)], dtype=torch.float64, device=device)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)  # every rank fits the same numbers
    return float(slowest.item())


def _probe_device() -> torch.device:
    """NCCL needs each rank's tensors on its own GPU: the one `engine.init_distributed` selected before the
    process group existed."""
    if dist.get_backend() != "nccl":
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe_collectives(
    sizes_bytes: list[int],
    repeats: int = 5,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    ops: tuple[str, ...] = COLLECTIVES,
) -> CommProfile:
    """Time each collective at each message size on the current process group and fit latency + bandwidth.

    Must be called by every rank of the default group, with the same arguments.
    """
    if not dist.is_initialized():
        raise RuntimeError("the communication probe needs an initialised process group")
    if device is None:
        device = _probe_device()
    fits = {}
    for op in ops:
        seconds = [_time_collective(op, size, repeats, device, dtype) for size in sizes_bytes]
        fits[op] = fit_latency_bandwidth(op, list(sizes_bytes), seconds)
    return CommProfile(world_size=dist.get_world_size(), backend=str(dist.get_backend()), fits=fits)


def run_comm_probe(comm, precision: str = "bf16") -> CommProfile | None:
    """The start-up probe as configured by `comm` (a CommConfig); logs the fit on rank 0. None on one rank:
    there is no communication to measure."""
    if dist.get_world_size() == 1:
        log.info("comm probe skipped: a single rank has no collectives to measure")
        return None
    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    profile = probe_collectives([kib * 1024 for kib in comm.probe_sizes_kib], comm.probe_repeats, dtype=dtype)
    if dist.get_rank() == 0:
        for op, fit in profile.fits.items():
            log.info(
                "comm probe %s (%d ranks, %s): latency %.1f us, bandwidth %.3f GB/s",
                op, profile.world_size, profile.backend, fit.latency_s * 1e6, fit.bandwidth_bytes_per_s / 1e9)
    return profile
