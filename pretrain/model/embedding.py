"""Token embedding whose CPU backward writes only the rows the batch used.

The dense gradient of a [vocab, hidden] table is zero except for the rows of the batch's token ids (at most
tokens-per-step of 64,000). torch's CPU backward allocates it with `zeros` — a fresh 131 MB block at
64,000 x 512 fp32, faulted in and memset page by page (~40 ms a step in `bench/bench_model.py`) — and then
adds the used rows. Memory from `calloc` (numpy's `zeros`) is zero already: the kernel maps zero pages on first
touch, so only the pages of used rows are ever written. On accelerators the memset is negligible and torch's
kernel is deterministic (sort-based) where `index_add_` is not, and for bf16/fp16 weights torch sums repeated
ids in fp32; both keep `F.embedding` unchanged, so this path is fp32 on CPU only (what it gives is bitwise
torch's result there).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def calloc_zeros(shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor of zeros whose pages are not touched until used (calloc'd bytes viewed as `dtype`)."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    raw = torch.from_numpy(np.zeros(shape.numel() * itemsize, dtype=np.uint8))  # all-zero bits = 0 in any dtype
    return raw.view(dtype).view(shape)


class _CPUEmbeddingLookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.weight_shape, ctx.weight_dtype = weight.shape, weight.dtype
        return F.embedding(ids, weight)

    @staticmethod
    def backward(ctx, grad_output):
        (ids,) = ctx.saved_tensors
        grad_weight = calloc_zeros(ctx.weight_shape, ctx.weight_dtype)
        # What torch's CPU embedding backward does after its zeros: the same sums in the same order.
        grad_weight.index_add_(0, ids.reshape(-1), grad_output.reshape(-1, grad_output.shape[-1]))
        return None, grad_weight


class Embedding(nn.Embedding):
    """`nn.Embedding` with N(0, std) init and, for fp32 weights on CPU, the backward above."""

    def __init__(self, num_embeddings: int, embedding_dim: int, std: float):
        self.std = std
        super().__init__(num_embeddings, embedding_dim)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, mean=0.0, std=self.std)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if weight.device.type == "cpu" and weight.dtype == torch.float32 and weight.requires_grad \
                and torch.is_grad_enabled():
            return _CPUEmbeddingLookup.apply(ids, weight)
        return F.embedding(ids, weight)
