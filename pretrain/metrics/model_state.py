"""What a rank holds for the model: parameter, fp32 master and optimizer-state bytes — ZeRO's promise, measured.

ZeRO-0 keeps everything on every rank; ZeRO-1/2 partition the fp32 master weights and Adam moments; ZeRO-3
partitions the low-precision parameters too. Counting the bytes actually allocated (each storage once, so
flattened buffers and their views are not double counted) turns that promise into a number in the metrics
record (pretrain/callbacks/model_state.py reports it after the first step).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
import torch.distributed as dist


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


def max_over_ranks(values: dict[str, int], device: torch.device) -> dict[str, int]:
    if not (dist.is_available() and dist.is_initialized()):
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)  # NCCL: device tensors
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return {k: int(v) for k, v in zip(keys, tensor.tolist())}
