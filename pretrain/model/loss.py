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

fp16 weights are the exception: their gradient underflows unless the upstream loss scale is applied before the
cast to fp16, so there the backward recomputes the chunks (see `ChunkedLinearCrossEntropy`).
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


def _chunk_logits(h: torch.Tensor, weight: torch.Tensor, probs: torch.Tensor, low: torch.Tensor | None):
    """Logits of one chunk into the fp32 buffer `probs`; returns the buffer the logits' gradient goes to.

    bf16/fp16 weights: the matmul runs in the weight's dtype (into `low`, as the naive loss rounds its logits),
    then one copy to fp32; the gradient is later cast back into `low` for the two gradient matmuls.
    """
    if low is None:
        torch.mm(h, weight.t(), out=probs)
        return probs
    torch.mm(h, weight.t(), out=low)
    probs.copy_(low)
    return low


def _chunk_loss_and_logit_grad(
    probs: torch.Tensor, target: torch.Tensor, row_scale: torch.Tensor, grad_out: torch.Tensor | None
) -> torch.Tensor:
    """Turn the fp32 logits in `probs` [n, V] into the gradient of the loss w.r.t. them, in place.

    Returns the per-row cross-entropy [n] (fp32). With `grad_out` None only the loss is computed; otherwise
    `grad_out` (= `probs`, or a buffer in the matmul dtype) receives `row_scale * (softmax - one-hot)`, formed
    in fp32 and rounded to `grad_out`'s dtype once, after the scale.
    """
    target_logit = probs.gather(1, target)
    row_max = probs.amax(dim=1, keepdim=True)
    torch.softmax(probs, dim=1, out=probs)  # in place: the kernel reads each element before writing it
    # The largest probability is exp(row_max - logsumexp): this recovers logsumexp without a second
    # exp pass over the chunk (a log-softmax followed by exp_ would need one).
    row_loss = (row_max - probs.amax(dim=1, keepdim=True).log() - target_logit).squeeze(1)
    if grad_out is not None:
        probs.scatter_add_(1, target, torch.full(target.shape, -1.0, device=probs.device))  # minus the one-hot
        # The scale (fp32), the ignore mask and (for bf16/fp16 weights) the cast in one pass.
        torch.mul(probs, row_scale[:, None], out=grad_out)
    return row_loss


def _chunk_buffers(workspace: LossWorkspace, rows: int, weight: torch.Tensor, device: torch.device):
    probs = workspace.get(rows, weight.shape[0], torch.float32, device)
    low = None if weight.dtype == torch.float32 else workspace.get(rows, weight.shape[0], weight.dtype, device)
    return probs, low


def _chunked_pass(hidden, weight, labels, chunk_size, workspace, row_scale, want_hidden, want_weight):
    """One pass over the chunks: the summed loss of the valid rows (fp32) and, when asked, the gradients of
    hidden and weight for the per-row loss weights `row_scale` (fp32 [N])."""
    num_tokens = labels.numel()
    valid = labels != IGNORE_INDEX
    grad_hidden = torch.empty_like(hidden) if want_hidden else None
    # Accumulated in place in the weight's dtype: no second [V, H] buffer. Each matmul still sums in fp32
    # inside; a bf16/fp16 weight gradient is rounded once per chunk instead of once.
    grad_weight = torch.empty_like(weight) if want_weight else None
    probs_buffer, low_buffer = _chunk_buffers(workspace, min(chunk_size, num_tokens), weight, hidden.device)
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    for index, start in enumerate(range(0, num_tokens, chunk_size)):
        stop = min(start + chunk_size, num_tokens)
        h = hidden[start:stop]
        probs = probs_buffer[: stop - start]
        grad = _chunk_logits(h, weight, probs, None if low_buffer is None else low_buffer[: stop - start])
        target = labels[start:stop].clamp(min=0)[:, None]  # ignored rows: dummy target, row_scale 0
        row_loss = _chunk_loss_and_logit_grad(probs, target, row_scale[start:stop],
                                              grad if want_hidden or want_weight else None)
        total += (row_loss * valid[start:stop]).sum()
        if want_hidden:
            torch.mm(grad, weight, out=grad_hidden[start:stop])
        if want_weight:
            if index == 0:
                torch.mm(grad.t(), h, out=grad_weight)
            else:
                grad_weight.addmm_(grad.t(), h)
    return total, grad_hidden, grad_weight


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    """`naive_cross_entropy` computed `chunk_size` tokens at a time.

    fp32/bf16 weights: the gradients are formed in the forward and the backward only scales them. fp16 weights:
    the forward computes only the loss and the backward recomputes each chunk's logits (one more head matmul),
    because fp16 cannot hold the gradient before the upstream scale is known. `(softmax - one-hot) / N` is
    ~3e-8 at 512 tokens x 64,000 (below fp16's smallest subnormal, 6e-8) and would be rounded to 0 or 6e-8
    before DeepSpeed's loss scale (2**16, itself inf in fp16) could lift it. So, as in the naive loss, the scale
    is multiplied in fp32 (`grad_output * valid / N`, never cast to fp16) and the product is cast once.
    """

    @staticmethod
    def forward(ctx, hidden, weight, labels, chunk_size: int, workspace: LossWorkspace | None = None):
        want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        valid = labels != IGNORE_INDEX
        count = valid.sum().clamp(min=1)
        row_scale = valid / count  # d(mean loss) / d(row loss): 0 on ignored rows; no host sync
        workspace = workspace or LossWorkspace()
        ctx.chunk_size, ctx.workspace = chunk_size, workspace
        ctx.deferred = weight.dtype == torch.float16
        if ctx.deferred:
            total, _, _ = _chunked_pass(hidden, weight, labels, chunk_size, workspace, row_scale, False, False)
            ctx.save_for_backward(hidden, weight, labels, row_scale)
        else:
            total, grad_hidden, grad_weight = _chunked_pass(hidden, weight, labels, chunk_size, workspace,
                                                            row_scale, want_hidden, want_weight)
            ctx.save_for_backward(grad_hidden, grad_weight)
        return total / count

    @staticmethod
    def backward(ctx, grad_output):
        if ctx.deferred:
            hidden, weight, labels, row_scale = ctx.saved_tensors
            scale = row_scale * grad_output.float()  # fp32 [N]: e.g. 2**16 / N, not rounded to fp16
            _, grad_hidden, grad_weight = _chunked_pass(hidden, weight, labels, ctx.chunk_size, ctx.workspace,
                                                        scale, ctx.needs_input_grad[0], ctx.needs_input_grad[1])
            return grad_hidden, grad_weight, None, None, None
        grad_hidden, grad_weight = ctx.saved_tensors
        # `loss.backward()` passes 1: then the stored gradients are final. Checking costs a device sync on an
        # accelerator, where the multiply is cheap; on CPU the multiply is a full pass over the [V, H] gradient.
        if grad_output.device.type == "cpu" and grad_output.item() == 1.0:
            return grad_hidden, grad_weight, None, None, None
        # In place: the stored gradients are not needed again (a second backward through this graph is an error).
        # bf16 holds any fp32 loss scale's magnitude (2**16 exactly); fp16 never gets here.
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
