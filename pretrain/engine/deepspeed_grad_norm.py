"""The global gradient norm, taken by us between the last backward of a step and `engine.step()`.

DeepSpeed's own norm cannot drive the skip: it is computed inside `engine.step()` (after the decision has to be
made), its non-finite check depends on stage and precision (bf16 `check_grad_overflow` reaches only ZeRO-1/2),
and plain fp32 ZeRO-0 never stores a norm at all (`get_global_grad_norm()` stayed None, logged as 0). So the
trainer reads this rank's share of the reduced gradients from wherever DeepSpeed keeps them after backward,
sums their squares, and all-reduces that sum together with the step's losses (one collective per step).

Where the gradients are, per optimizer DeepSpeed builds around ours (DeepSpeed 0.19.8):

| wrapper (when) | after the last backward | this rank counts |
|---|---|---|
| none (ZeRO-0 fp32), FP16_(Unfused)Optimizer (ZeRO-0 bf16/fp16) | `param.grad`, all-reduced, replicated | every world-th tensor |
| BF16_Optimizer (ZeRO-1 bf16 + fp32 accumulation) | `fp32_groups_gradients_flat`, all-reduced, replicated | its `fp32_groups_gradient_flat_partition` |
| DeepSpeedZeroOptimizer (ZeRO-1/2) | `averaged_gradients[group]`: this rank's partition (+ zero padding) | all of it |
|   with CPU offload | `single_partition_of_fp32_groups[group].grad` (CPU) | all of it |
| DeepSpeedZeroOptimizer_Stage3 (ZeRO-3) | `averaged_gradients[sub_group]`: each parameter's partition | all of it |
|   with CPU offload | `fp32_partitioned_groups_flat[sub_group].grad` (CPU) | all of it |

Every element of the global gradient is counted by exactly one rank, so the all-reduced sum is the squared
global norm. The gradients are the data-parallel mean over the whole accumulation window and unclipped
(DeepSpeed clips inside `engine.step()`); under fp16 they carry the loss scale, which is divided out.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

# Squares are summed per chunk: the temporary fp32 copy stays at 64 MiB for a billion-element ZeRO partition.
# Not torch.linalg.vector_norm in fp32: on CPU it accumulates sequentially and was 2.8e-5 off (relative, squared
# norm) over the tiny model's 356k-element offload partition; a chunked fp64 sum is within 1e-7.
CHUNK_ELEMENTS = 1 << 24


def local_grad_square_sum(engine) -> torch.Tensor:
    """The sum of squares of the gradient elements this rank is responsible for, as a float64 scalar on the
    engine's device: summed over the data-parallel ranks it is the squared global norm (non-finite if any
    gradient element is). Call after the step's last `engine.backward()` and before `engine.step()`."""
    device = engine.device
    total = torch.zeros((), dtype=torch.float64, device=device)
    for grad in _owned_gradients(engine):
        for chunk in grad.reshape(-1).split(CHUNK_ELEMENTS):
            total += chunk.float().square().sum(dtype=torch.float64).to(device)
    scale = fp16_loss_scale(engine)
    if scale is not None:
        total = total / scale**2
    return total


def fp16_loss_scale(engine) -> float | None:
    """The loss scale the gradients carry under fp16, else None. Read as `loss_scale`, the name every DeepSpeed
    fp16 wrapper promotes (ZeRO-1/2, ZeRO-3, and the ZeRO-0 FP16_(Unfused)Optimizer, which has no `cur_scale`);
    fp16 with ZeRO-0 is refused at validation anyway (pretrain/config/validate.py)."""
    return float(engine.optimizer.loss_scale) if engine.fp16_enabled() else None


def _owned_gradients(engine) -> list[torch.Tensor]:
    # Imported here: DeepSpeed is imported when an engine is built, not when the package is.
    from deepspeed.runtime.bf16_optimizer import BF16_Optimizer
    from deepspeed.runtime.zero.stage3 import DeepSpeedZeroOptimizer_Stage3
    from deepspeed.runtime.zero.stage_1_and_2 import DeepSpeedZeroOptimizer

    optimizer = engine.optimizer
    if isinstance(optimizer, DeepSpeedZeroOptimizer_Stage3):
        if optimizer.swap_optimizer:
            raise NotImplementedError("gradient norm with NVMe optimizer swapping: gradients live on disk")
        if optimizer.offload_optimizer:
            return [flat.grad for flat in optimizer.fp32_partitioned_groups_flat if flat.grad is not None]
        return [grad for group in optimizer.averaged_gradients.values() if group is not None for grad in group]
    if isinstance(optimizer, DeepSpeedZeroOptimizer):
        if optimizer.cpu_offload:
            optimizer._wait_for_offload_copies()  # device-to-host copies may still be in flight
            return [flat.grad for flat in optimizer.single_partition_of_fp32_groups if flat.grad is not None]
        return [grad for group in optimizer.averaged_gradients.values() if group is not None for grad in group]
    if isinstance(optimizer, BF16_Optimizer):
        return list(optimizer.fp32_groups_gradient_flat_partition)
    # Replicated after DeepSpeed's all-reduce: each rank takes every world-th tensor (counted once, work shared).
    grads = [param.grad for param in engine.module.parameters() if param.grad is not None]
    return grads[dist.get_rank()::dist.get_world_size()]
