"""Causal-LM cross-entropy over a large vocabulary, naive or split into token chunks to cut peak memory.

The naive loss materializes fp32 logits [tokens, vocab] (and its softmax and gradient: 3 x 524 MB at 2,048
tokens x 64,000 in fp32). The chunked loss runs `lm_head` + cross-entropy on `chunk_size` tokens at a time
under activation checkpointing, so only one chunk's logits exist at once, in the forward and again in the
backward (which recomputes them). Values and gradients equal the naive loss up to float summation order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

IGNORE_INDEX = -100


def _summed_cross_entropy(lm_head: nn.Module, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = lm_head(hidden).float()
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum")


def causal_lm_loss(hidden: torch.Tensor, labels: torch.Tensor, lm_head: nn.Module, chunk_size: int = 0):
    """Mean fp32 cross-entropy over tokens whose label is not -100 (0 when there are none).

    hidden [B, L, H] (final-norm output), labels [B, L] already shifted. The head is called as a module so
    hooks on it (e.g. ZeRO-3 parameter gathering) run for every chunk and its recomputation.
    """
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    count = (labels != IGNORE_INDEX).sum().clamp(min=1)
    if chunk_size <= 0 or chunk_size >= labels.numel():
        total = _summed_cross_entropy(lm_head, hidden, labels)
    else:
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, labels.numel(), chunk_size):
            stop = start + chunk_size
            total = total + checkpoint(
                _summed_cross_entropy, lm_head, hidden[start:stop], labels[start:stop], use_reentrant=False
            )
    return total / count
