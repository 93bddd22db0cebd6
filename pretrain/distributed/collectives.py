"""The few collectives the training loop and the checkpoint store take, in one object they are handed (a test
hands them another).

Without a process group (a unit test, a single process that never joined one) each is the identity; so is a
`Collectives.solo()`, for a caller that acts alone even inside a distributed run (reading one checkpoint for
evaluation or export must not wait for ranks that never call).
"""

from __future__ import annotations

import torch
import torch.distributed as dist


class Collectives:
    def __init__(self, device: torch.device | None = None, solo: bool = False):
        # NCCL reduces device tensors only; the object collectives below need no device (torch picks the
        # current one), so the resume planner can use them before the step engine exists.
        self.device = device if device is not None else torch.device("cpu")
        self.solo = solo

    @classmethod
    def solo_process(cls) -> Collectives:
        return cls(solo=True)

    def active(self) -> bool:
        return not self.solo and dist.is_available() and dist.is_initialized()

    def rank(self) -> int:
        return dist.get_rank() if self.active() else 0

    def world_size(self) -> int:
        return dist.get_world_size() if self.active() else 1

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks, in place."""
        if self.active():
            dist.all_reduce(tensor)
        return tensor

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on any rank."""
        if not self.active():
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def all_gather_object(self, obj) -> list:
        """Every rank's `obj` (picklable), indexed by rank, on every rank."""
        if not self.active():
            return [obj]
        gathered = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, obj)
        return gathered

    def broadcast_object(self, obj, src: int = 0):
        """Rank `src`'s `obj` on every rank."""
        if not self.active():
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def barrier(self) -> None:
        if self.active():
            dist.barrier()
