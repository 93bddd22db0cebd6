"""The global gradient norm, taken by us between the last backward of a step and `engine.step()`.

DeepSpeed's own norm cannot drive the skip: it is computed inside `engine.step()` (after the decision has to be
made), its non-finite check depends on stage and precision (bf16 `check_grad_overflow` reaches only ZeRO-1/2),
and plain fp32 ZeRO-0 never stores a norm at all (`get_global_grad_norm()` stayed None, logged as 0). So the
trainer reads this rank's share of the reduced gradients from wherever DeepSpeed keeps them after backward,
sums their squares, and all-reduces that sum together with the step's losses (one collective per step).

Where the gradients are, per optimizer DeepSpeed builds around ours (DeepSpeed 0.19.8):

| wrapper (when) | after the last backward | this rank counts |
|---|---|---|
| none (ZeRO-0 fp32), FP16_(Unfused)Optimizer (ZeRO-0 bf16) | `param.grad`, all-reduced, replicated | every world-th tensor |
| BF16_Optimizer (ZeRO-1 bf16 + fp32 accumulation) | `fp32_groups_gradients_flat`, all-reduced, replicated | its `fp32_groups_gradient_flat_partition` |
| DeepSpeedZeroOptimizer (ZeRO-1/2) | `averaged_gradients[group]`: this rank's partition (+ zero padding) | all of it |
| DeepSpeedZeroOptimizer_Stage3 (ZeRO-3) | `averaged_gradients[sub_group]`: each parameter's partition | all of it |
| either, with CPU offload | `norm_for_param_grads`: the norm of each parameter's partition, on the device | all of them |

Every element of the global gradient is counted by exactly one rank, so the all-reduced sum is the squared
global norm. The gradients are the data-parallel mean over the whole accumulation window and unclipped
(DeepSpeed clips inside `engine.step()`); under fp16 they carry the loss scale, which is divided out.

With CPU offload the gradients end up in the fp32 partition on the host, and summing their squares there was one
single-threaded pass over the partition per step (0.36 s per 64 M elements: ~8 s a step for 13B ZeRO-3 offload
on 8 ranks). DeepSpeed itself takes each parameter's norm on the device at the accumulation boundary, in fp64,
before copying the gradient out (`stage3.py` ~1446 `_offload_grad_partition_at_boundary`, `stage_1_and_2.py`
~2152/2172 `copy_grads_in_partition`), and clears them at every step: their squares sum to this rank's share.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from deepspeed.runtime.bf16_optimizer import BF16_Optimizer
from deepspeed.runtime.zero.stage3 import DeepSpeedZeroOptimizer_Stage3
from deepspeed.runtime.zero.stage_1_and_2 import DeepSpeedZeroOptimizer

# Squares are summed as rows of ROW elements: one batched matrix product per tensor ([rows, 1, ROW] @ [rows, ROW, 1],
# a BLAS dot product per row in fp32, exact to ~1e-8 relative over a row), and the row sums in fp64. One kernel per
# tensor whatever its size (a GPU launches no more for a billion-element partition), and no fp64 copy: the former
# fp64 copy of each 16 MiB chunk was freshly mapped memory every step (page faults). `python -m
# bench.bench_grad_square_sum` (the benchmark model's 39 gradient tensors, 4.2 M elements, one CPU thread, caches
# flushed between calls): fp64 copy + dot 12.3 ms, these rows 3.7 ms (3.3x), within 1e-8 of an exact sum.
# An element whose square overflows fp32 (|g| > 1.8e19) makes the norm infinite and the step skipped as
# `nonfinite_grad` — as DeepSpeed's own fp32 norm would; no finite training step has such a gradient.
ROW = 4096


def local_grad_square_sum(engine) -> torch.Tensor:
    """The sum of squares of the gradient elements this rank is responsible for, as a float64 scalar on the
    engine's device: summed over the data-parallel ranks it is the squared global norm (non-finite if any
    gradient element is). Call after the step's last `engine.backward()` and before `engine.step()`."""
    device = engine.device
    total = torch.zeros((), dtype=torch.float64, device=device)
    offloaded = _offload_partition_norms(engine.optimizer)
    if offloaded is not None:  # DeepSpeed's own norms: the host partition is not read at all
        if offloaded:
            total = torch.stack([norm.to(device, torch.float64) for norm in offloaded]).square().sum()
    else:
        for grad in _owned_gradients(engine):
            total += square_sum(grad).to(device)
    scale = fp16_loss_scale(engine)
    return total / scale**2 if scale is not None else total


def square_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The float64 sum of squares of a tensor's elements, on its device (rows of ROW in fp32, see above)."""
    flat = tensor.reshape(-1).float()
    body = flat.numel() // ROW * ROW
    total = torch.zeros((), dtype=torch.float64, device=flat.device)
    if body:
        rows = flat[:body].view(-1, 1, ROW)
        total += torch.bmm(rows, rows.transpose(1, 2)).sum(dtype=torch.float64)
    if body < flat.numel():
        tail = flat[body:].to(torch.float64)
        total += torch.dot(tail, tail)
    return total


def fp16_loss_scale(engine) -> float | None:
    """The loss scale the gradients carry under fp16, else None. Read as `loss_scale`, the name every DeepSpeed
    fp16 wrapper promotes (ZeRO-1/2, ZeRO-3, and the ZeRO-0 FP16_(Unfused)Optimizer, which has no `cur_scale`);
    fp16 with ZeRO-0 is refused at validation anyway (pretrain/config/validate.py)."""
    return float(engine.optimizer.loss_scale) if engine.fp16_enabled() else None


def _offload_partition_norms(optimizer) -> list[torch.Tensor] | None:
    """Under CPU offload, DeepSpeed's per-parameter norms of this rank's gradient partitions (device tensors);
    None when the optimizer does not offload. NVMe-swapped sub-groups get theirs too (recorded before the swap)."""
    if isinstance(optimizer, DeepSpeedZeroOptimizer_Stage3) and optimizer.offload_optimizer or \
            isinstance(optimizer, DeepSpeedZeroOptimizer) and optimizer.cpu_offload:
        return list(optimizer.norm_for_param_grads.values())
    return None


def _owned_gradients(engine) -> list[torch.Tensor]:
    optimizer = engine.optimizer
    if isinstance(optimizer, (DeepSpeedZeroOptimizer_Stage3, DeepSpeedZeroOptimizer)):  # not offloading
        return [grad for group in optimizer.averaged_gradients.values() if group is not None for grad in group]
    if isinstance(optimizer, BF16_Optimizer):
        return list(optimizer.fp32_groups_gradient_flat_partition)
    # Replicated after DeepSpeed's all-reduce: each rank takes every world-th tensor (counted once, work shared).
    grads = [param.grad for param in engine.module.parameters() if param.grad is not None]
    return grads[dist.get_rank()::dist.get_world_size()]
