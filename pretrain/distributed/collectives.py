"""The few collectives the training loop itself takes, in one object it is handed (a test hands it another).

Without a process group (a unit test, a single process that never joined one) each is the identity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


class Collectives:
    def __init__(self, device: torch.device):
        self.device = device  # NCCL reduces device tensors only

    @staticmethod
    def active() -> bool:
        return dist.is_available() and dist.is_initialized()

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

    def barrier(self) -> None:
        if self.active():
            dist.barrier()
