"""Causal-LM cross-entropy over a large vocabulary: naive, or fused with `lm_head` and split into token chunks.

The naive loss materializes fp32 logits [tokens, vocab], their log-softmax and, in the backward, two more
tensors of that size (each 524 MB at 2,048 tokens x 64,000 in fp32). The chunked loss computes, chunk by
chunk, the logits, the loss and right away the gradient of the loss with respect to the logits
(softmax - one-hot), which it folds into the gradients of the hidden states and of the head weight. Only one
chunk's logits ever exist; the backward just scales the two stored gradients. Same FLOPs as the naive loss
(three matmuls with the head), no recomputation.

Per chunk, everything over [chunk, vocab] happens in one fp32 buffer, reused by every chunk: the logits are
written into it, turned into probabilities in place, and scaled into the logits' gradient in place. Besides
the two matmuls that read it, that is four passes over the buffer (row max, softmax, max probability, scale),
against the naive loss's log-softmax, its backward and the zero fill of the one-hot gradient, each into a
fresh [tokens, vocab] tensor. On CPU the buffer is also kept between calls (`LossWorkspace`).
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


class LossWorkspace:
    """The chunked loss's [chunk, vocab] buffers, kept between calls on CPU.

    torch's CPU allocator hands big blocks straight back to the OS (glibc unmaps anything over 32 MiB), so a
    fresh 131 MB buffer (512 tokens x 64,000) costs ~55 ms of page faults per call, 3 % of a CPU training step
    of `bench/bench_model.py`. CUDA's caching allocator already recycles the block, so on accelerators the
    buffer is allocated per call and nothing is held between steps.
    """

    def __init__(self):
        self._buffers: dict[torch.dtype, torch.Tensor] = {}

    def get(self, rows: int, vocab: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        if device.type != "cpu":
            return torch.empty(rows, vocab, dtype=dtype, device=device)
        buffer = self._buffers.get(dtype)
        if buffer is None or buffer.shape[0] < rows or buffer.shape[1] != vocab:
            self._buffers.pop(dtype, None)  # free the old one before allocating its replacement
            buffer = self._buffers[dtype] = torch.empty(rows, vocab, dtype=dtype, device=device)
        return buffer[:rows]

    def __getstate__(self):  # scratch memory: not worth copying or pickling with the module
        return {"_buffers": {}}

    def __deepcopy__(self, memo):
        return LossWorkspace()


def _chunk_loss_and_logit_grad(
    probs: torch.Tensor, target: torch.Tensor, row_scale: torch.Tensor, grad_out: torch.Tensor | None
) -> torch.Tensor:
    """Turn the fp32 logits in `probs` [n, V] into the gradient of the loss w.r.t. them, in place.

    Returns the per-row cross-entropy [n] (fp32). With `grad_out` None only the loss is computed; otherwise
    `grad_out` (= `probs`, or a buffer in the matmul dtype) receives `row_scale * (softmax - one-hot)`.
    """
    target_logit = probs.gather(1, target)
    row_max = probs.amax(dim=1, keepdim=True)
    torch.softmax(probs, dim=1, out=probs)  # in place: the kernel reads each element before writing it
    # The largest probability is exp(row_max - logsumexp): this recovers logsumexp without a second
    # exp pass over the chunk (a log-softmax followed by exp_ would need one).
    row_loss = (row_max - probs.amax(dim=1, keepdim=True).log() - target_logit).squeeze(1)
    if grad_out is not None:
        probs.scatter_add_(1, target, torch.full(target.shape, -1.0, device=probs.device))  # minus the one-hot
        # 1/num_valid, the ignore mask and (for bf16/fp16 weights) the cast in one pass.
        torch.mul(probs, row_scale[:, None], out=grad_out)
    return row_loss


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    """`naive_cross_entropy` computed `chunk_size` tokens at a time, gradients formed in the forward."""

    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk_size: int, workspace: LossWorkspace | None = None):
        want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        want_grad = want_hidden or want_weight
        num_tokens, vocab = labels.numel(), weight.shape[0]
        valid = labels != IGNORE_INDEX
        count = valid.sum().clamp(min=1)
        row_scale = valid / count  # d(mean loss) / d(row loss): 0 on ignored rows; no host sync
        grad_hidden = torch.empty_like(hidden) if want_hidden else None
        # Accumulated in place in the weight's dtype: no second [V, H] buffer. Each matmul still sums in fp32
        # inside; a bf16 weight gradient is rounded once per chunk instead of once.
        grad_weight = torch.empty_like(weight) if want_weight else None
        rows = min(chunk_size, num_tokens)
        workspace = workspace or LossWorkspace()
        probs_buffer = workspace.get(rows, vocab, torch.float32, hidden.device)
        # bf16/fp16: the matmuls run in the weight's dtype (as in the naive loss), the softmax in fp32.
        low_buffer = None
        if weight.dtype != torch.float32:
            low_buffer = workspace.get(rows, vocab, weight.dtype, hidden.device)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for index, start in enumerate(range(0, num_tokens, chunk_size)):
            stop = min(start + chunk_size, num_tokens)
            h = hidden[start:stop]
            probs = probs_buffer[: stop - start]
            if low_buffer is None:
                torch.mm(h, weight.t(), out=probs)
                grad = probs
            else:
                grad = torch.mm(h, weight.t(), out=low_buffer[: stop - start])
                probs.copy_(grad)
            target = labels[start:stop].clamp(min=0)[:, None]  # ignored rows: dummy target, row_scale 0
            row_loss = _chunk_loss_and_logit_grad(probs, target, row_scale[start:stop],
                                                  grad if want_grad else None)
            total += (row_loss * valid[start:stop]).sum()
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
        # `loss.backward()` passes 1: then the stored gradients are final. Checking costs a device sync on an
        # accelerator, where the multiply is cheap; on CPU the multiply is a full pass over the [V, H] gradient.
        if grad_output.device.type == "cpu" and grad_output.item() == 1.0:
            return grad_hidden, grad_weight, None, None, None
        # In place: the stored gradients are not needed again (a second backward through this graph is an error).
        if grad_hidden is not None:
            grad_hidden = grad_hidden.mul_(grad_output.to(grad_hidden.dtype))
        if grad_weight is not None:
            grad_weight = grad_weight.mul_(grad_output.to(grad_weight.dtype))
        return grad_hidden, grad_weight, None, None, None


def causal_lm_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, chunk_size: int = 0,
                   workspace: LossWorkspace | None = None):
    """Mean fp32 cross-entropy of hidden [B, L, H] through the head weight [V, H] against already shifted
    labels [B, L] (-100 = ignore). chunk_size > 0 selects the chunked, fused loss; `workspace` (optional)
    keeps its chunk buffers between calls."""
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    if chunk_size <= 0:
        return naive_cross_entropy(hidden, weight, labels)
    return ChunkedLinearCrossEntropy.apply(hidden, weight, labels, chunk_size, workspace)
