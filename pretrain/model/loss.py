"""Causal-LM cross-entropy over a large vocabulary: naive, or fused with `lm_head` and split into token chunks.

The naive loss materializes fp32 logits [tokens, vocab], their log-softmax and, in the backward, two more
tensors of that size (each 524 MB at 2,048 tokens x 64,000 in fp32). The chunked loss computes, chunk by
chunk, the logits, the loss and right away the gradient of the loss with respect to the logits
(softmax - one-hot), which it folds into the gradients of the hidden states and of the head weight. Only one
chunk's logits ever exist; the backward just scales the two stored gradients. Same FLOPs as the naive loss
(three matmuls with the head), no recomputation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def naive_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """hidden [N, H], weight [V, H], labels [N] -> fp32 mean over labels != -100 (0 when none)."""
    logits = F.linear(hidden, weight).float()
    total = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (labels != IGNORE_INDEX).sum().clamp(min=1)


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    """`naive_cross_entropy` computed `chunk_size` tokens at a time, gradients formed in the forward."""

    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk_size: int):
        want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        valid = labels != IGNORE_INDEX
        count = valid.sum().clamp(min=1)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        # Accumulated in place in the weight's dtype: no second [V, H] buffer. Each matmul still sums in fp32
        # inside; a bf16 weight gradient is rounded once per chunk instead of once.
        grad_weight = torch.empty_like(weight) if want_weight else None
        for index, start in enumerate(range(0, labels.numel(), chunk_size)):
            stop = start + chunk_size
            h, keep = hidden[start:stop], valid[start:stop]
            target = labels[start:stop].clamp(min=0)[:, None]  # ignored rows get a dummy target, masked below
            log_probs = F.linear(h, weight).float().log_softmax(dim=-1)
            total -= (log_probs.gather(1, target).squeeze(1) * keep).sum()
            if not (want_hidden or want_weight):
                continue
            grad = log_probs.exp_()  # softmax, in place
            grad.scatter_add_(1, target, -keep[:, None].float())  # minus the one-hot of the target
            grad.mul_((keep.float() / count)[:, None])  # mean over valid tokens; ignored rows contribute 0
            grad = grad.to(hidden.dtype)
            if want_hidden:
                torch.mm(grad, weight, out=grad_hidden[start:stop])
            if want_weight:
                if index == 0:
                    torch.mm(grad.t(), h, out=grad_weight)
                else:
                    grad_weight.addmm_(grad.t(), h)
        ctx.save_for_backward(grad_hidden, grad_weight)
        return total / count

    @staticmethod
    def backward(ctx, grad_output):
        grad_hidden, grad_weight = ctx.saved_tensors
        # In place: the stored gradients are not needed again (a second backward through this graph is an error).
        if grad_hidden is not None:
            grad_hidden = grad_hidden.mul_(grad_output.to(grad_hidden.dtype))
        if grad_weight is not None:
            grad_weight = grad_weight.mul_(grad_output.to(grad_weight.dtype))
        return grad_hidden, grad_weight, None, None


def causal_lm_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk_size: int = 0):
    """Mean fp32 cross-entropy of hidden [B, L, H] through the head weight [V, H] against already shifted
    labels [B, L] (-100 = ignore). chunk_size > 0 selects the chunked, fused loss."""
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    if chunk_size <= 0:
        return naive_cross_entropy(hidden, weight, labels)
    return ChunkedLinearCrossEntropy.apply(hidden, weight, labels, chunk_size)
