"""Position encodings: rotary (Baichuan-7B) and ALiBi (Baichuan-13B), plus per-document positions for packing."""

from __future__ import annotations

import math

import torch


def document_positions(doc_ids: torch.Tensor) -> torch.Tensor:
    """Position of each token inside its document: [B, L] -> [B, L], restarting at 0 where `doc_ids` changes."""
    length = doc_ids.shape[-1]
    index = torch.arange(length, device=doc_ids.device).expand_as(doc_ids)
    starts = torch.ones_like(doc_ids, dtype=torch.bool)
    starts[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    start_index = torch.where(starts, index, torch.zeros_like(index)).cummax(dim=-1).values
    return index - start_index


def document_cu_seqlens(doc_ids: torch.Tensor) -> torch.Tensor:
    """int32 offsets [segments + 1] of every document in the flattened [B * L] token stream, split also at row
    starts: flash-attn's `cu_seqlens`. `nonzero` has a data-dependent size, so on an accelerator this waits for
    the device; the data loader calls it on the host copy and ships the result with the batch."""
    starts = torch.ones_like(doc_ids, dtype=torch.bool)
    starts[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    offsets = starts.flatten().nonzero().flatten()
    end = torch.full((1,), doc_ids.numel(), dtype=offsets.dtype, device=doc_ids.device)
    return torch.cat((offsets, end)).to(torch.int32)


def rope_cos_sin(
    positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [B, L, head_dim] for integer positions [B, L]; computed in fp32 (as HF Llama does), then cast.

    Nothing is cached in buffers, so the model has no RoPE state to partition, save or forget on the meta device.
    """
    exponent = torch.arange(0, head_dim, 2, dtype=torch.int64, device=positions.device).float() / head_dim
    inv_freq = 1.0 / (theta**exponent)
    freqs = positions.float()[..., None] * inv_freq
    angles = torch.cat((freqs, freqs), dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, L, H, D] by cos/sin [B, L, D] (the "rotate half" layout of the released Baichuan/Llama code)."""
    cos, sin = cos[:, :, None], sin[:, :, None]
    return x * cos + _rotate_half(x) * sin


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Per-head ALiBi slopes (Press et al.), fp32 [num_heads].

    For a power of two n the slopes are 2^(-8 i / n), i = 1..n. Otherwise (Baichuan-13B has 40 heads) take the
    slopes of the closest lower power of two and fill the rest with every other slope of twice that power.
    """

    def power_of_two_slopes(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    closest = 2 ** math.floor(math.log2(num_heads))
    slopes = power_of_two_slopes(closest)
    if closest != num_heads:
        slopes += power_of_two_slopes(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)
