"""What a rank holds for the model: parameter, fp32 master and optimizer-state bytes — ZeRO's promise, measured.

ZeRO-0 keeps everything on every rank; ZeRO-1/2 partition the fp32 master weights and Adam moments; ZeRO-3
partitions the low-precision parameters too. Counting the bytes actually allocated (each storage once, so
flattened buffers and their views are not double counted) turns that promise into a number in the metrics
record, next to the start-up facts a run should keep: chosen bucket sizes and the comm probe's fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from pretrain.callbacks.base import Callback

if TYPE_CHECKING:
    from pretrain.trainer import Trainer


class _StorageCounter:
    """Sums storage bytes, each storage once across all calls (views into a flat buffer share a storage)."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def bytes_of(self, tensors: Iterable[torch.Tensor]) -> int:
        total = 0
        for tensor in tensors:
            storage = tensor.untyped_storage()
            if storage.nbytes() == 0 or storage.data_ptr() in self._seen:
                continue
            self._seen.add(storage.data_ptr())
            total += storage.nbytes()
        return total


def _local_parameters(module: torch.nn.Module) -> Iterator[torch.Tensor]:
    for param in module.parameters():
        yield param.data  # ZeRO-3: empty unless gathered or persistent (small parameters stay gathered)
        if hasattr(param, "ds_tensor"):
            yield param.ds_tensor  # ZeRO-3: this rank's partition


def model_state_bytes(module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """This rank's bytes of parameters (training dtype), fp32 master weights and optimizer states.

    `optimizer` is the basic optimizer DeepSpeed wraps: it updates the fp32 master copies (or this rank's
    partition of them) and holds the Adam moments, so one count serves every ZeRO stage.
    """
    counter = _StorageCounter()
    params = counter.bytes_of(_local_parameters(module))
    # The state is keyed by the tensors the optimizer updates — the fp32 masters — even where a ZeRO-3 wrapper
    # swaps them into param_groups only for the duration of its step.
    master = counter.bytes_of([*optimizer.state.keys(), *(p for g in optimizer.param_groups for p in g["params"])])
    states = counter.bytes_of(
        value for state in optimizer.state.values() for value in state.values() if torch.is_tensor(value)
    )
    return {"param_bytes": params, "master_bytes": master, "optimizer_state_bytes": states,
            "total_bytes": params + master + states}


def _max_over_ranks(values: dict[str, int], device: torch.device) -> dict[str, int]:
    if not (dist.is_available() and dist.is_initialized()):
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)  # NCCL: device tensors
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return {k: int(v) for k, v in zip(keys, tensor.tolist())}


class ModelStateReport(Callback):
    """Adds, to the first step's record of each launch, the per-rank model-state bytes (max over ranks), the
    bucket sizes DeepSpeed was given and the comm probe's fitted latency/bandwidth; every step under fp16,
    the current loss scale."""

    def __init__(self) -> None:
        self._reported = False

    def on_train_start(self, trainer: Trainer) -> None:
        self._reported = False

    def on_step_end(self, trainer: Trainer) -> dict | None:
        metrics: dict = {}
        if trainer.config.train.precision == "fp16":
            scale = getattr(trainer.engine.optimizer, "cur_scale", None)
            if scale is not None:
                metrics["loss_scale"] = float(scale)
        if self._reported:
            return metrics
        # After the first step: FP16_Optimizer (ZeRO-0) creates the Adam moments lazily at its first step.
        self._reported = True
        state = _max_over_ranks(model_state_bytes(trainer.engine.module, trainer.bundle.optimizer),
                                trainer.engine.device)
        metrics.update({f"state/{k}_per_rank": v for k, v in state.items()})
        zero = trainer.bundle.ds_config["zero_optimization"]
        for key in ("reduce_bucket_size", "allgather_bucket_size", "stage3_prefetch_bucket_size"):
            if key in zero:
                metrics[f"buckets/{key}"] = zero[key]
        profile = trainer.bundle.comm_profile
        if profile is not None:
            metrics.update(profile.as_metrics())
        return metrics
