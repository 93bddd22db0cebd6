"""RMSNorm with interchangeable kernels: apex `fused_rms_norm_affine`, torch's fused `rms_norm`, a reference.

Every backend owns the same single parameter `weight`, so checkpoints do not depend on the kernel used.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from .kernels import apex_fused_rms_norm_affine, apex_rmsnorm_available, norm_backend_problem

logger = logging.getLogger(__name__)


def resolve_norm_backend(requested: str) -> str:
    """Turn `auto` into a concrete backend; an explicit `apex` that cannot run here is a user error."""
    if requested == "auto":
        return "apex" if apex_rmsnorm_available() else "torch"
    problem = norm_backend_problem(requested)
    if problem:
        raise ValueError(problem)
    return requested


def rms_norm_reference(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Normalize in fp32, cast back, then scale (the order of the released Baichuan and HF Llama code)."""
    xf = x.float()
    normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * normed.to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float, backend: str = "torch"):
        super().__init__()
        self.eps = eps
        self.backend = backend
        self.weight = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.backend == "torch":
            # torch computes the statistic in fp32 for bf16/fp16 inputs; the weight is applied before the final
            # cast (the reference applies it after), a difference of one bf16 rounding.
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        if self.backend == "apex":
            return apex_fused_rms_norm_affine()(x, self.weight, self.weight.shape, self.eps)
        return rms_norm_reference(x, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}, backend={self.backend}"
