"""The gradient's sum of squares per step, ours vs the former fp64 copy + dot, in one run.

    python -m bench.bench_grad_square_sum [--repeats 30]

The tensors are shaped like the gradient of the trainer-overhead benchmark's model (39 tensors, 4.2 M elements; a
ZeRO-2 rank of two owns about half); a 64 MiB buffer is written between calls, as a training step evicts the caches. One thread, median.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pretrain.engine.deepspeed_grad_norm import square_sum

SIZES = [512000, 512000] + [65536] * 16 + [180224] * 12 + [256] * 9


def former(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Before: each chunk of up to 16 M elements copied to fp64, then one dot product."""
    total = torch.zeros((), dtype=torch.float64)
    for tensor in tensors:
        for chunk in tensor.reshape(-1).split(1 << 24):
            exact = chunk.to(torch.float64)
            total += torch.dot(exact, exact)
    return total


def ours(tensors: list[torch.Tensor]) -> torch.Tensor:
    total = torch.zeros((), dtype=torch.float64)
    for tensor in tensors:
        total += square_sum(tensor)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.randn(n, generator=generator) * 1e-3 for n in SIZES]
    flush = torch.empty(16 << 20)
    exact = sum(float((t.double() ** 2).sum()) for t in tensors)
    seconds = {"former": [], "ours": []}
    for _ in range(args.repeats):
        for name, fn in (("former", former), ("ours", ours)):
            flush.add_(1.0)
            started = time.perf_counter()
            value = float(fn(tensors))
            seconds[name].append(time.perf_counter() - started)
            assert abs(value - exact) <= 1e-6 * exact
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"{len(SIZES)} tensors, {sum(SIZES):,} elements, one thread, median of {args.repeats}")
    for name in seconds:
        print(f"{name:7s} {medians[name] * 1e3:.2f} ms")
    print(f"former / ours = {medians['former'] / medians['ours']:.2f}x")


if __name__ == "__main__":
    main()
