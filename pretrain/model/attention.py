"""Attention kernels behind one signature, and the mask they all implement.

Every backend computes softmax(q k^T / sqrt(d) + bias) v where the bias is 0 for visible keys and -inf otherwise
(plus -slope_h * (i - j) under ALiBi). A key j is visible to query i when it is not in the future (j <= i, with
absolute positions under a KV cache) and, for packed rows, when it belongs to the same document.

Shapes: q [B, Lq, H, D], k/v [B, Lk, H, D] -> [B, Lq, H, D] (flash-attn's layout; the others transpose views).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .kernels import attention_backend_problem, flash_attn_functions, flash_attn_status
from .positions import document_cu_seqlens

logger = logging.getLogger(__name__)

FLASH_DTYPES = (torch.float16, torch.bfloat16)


def resolve_attention_backend(requested: str) -> str:
    """Turn `auto` into a concrete backend; an explicit `flash` that cannot run here is a user error."""
    if requested == "auto":
        status = flash_attn_status()
        if status.usable:
            return "flash"
        # On a GPU the fallback costs the speed the user expects, so say why (not installed, an ABI mismatch,
        # an old GPU) at WARNING; on CPU sdpa is the normal choice.
        log = logger.warning if torch.cuda.is_available() else logger.info
        log("flash-attn is not available (%s); attention uses sdpa", status.reason)
        return "sdpa"
    problem = attention_backend_problem(requested, training=False)  # training is checked before ranks start
    if problem:
        raise ValueError(problem)
    return requested


@dataclass
class AttentionMask:
    """Which keys each query may see; built once per forward and shared by every layer (it caches derived masks).

    doc_ids: [B, L] document number of each token of a packed row (training/eval without a cache), or None.
    q_offset: absolute position of the first query (the KV-cache length before this step).
    alibi_slopes: fp32 [H] when the model uses ALiBi.
    cu_seqlens, max_seqlen: the documents of `doc_ids` as flash-attn's varlen kernel wants them (int32 offsets,
    longest document as a Python int), built by the data loader on the host; derived here when absent.
    """

    doc_ids: torch.Tensor | None = None
    q_offset: int = 0
    alibi_slopes: torch.Tensor | None = None
    cu_seqlens: torch.Tensor | None = None
    max_seqlen: int | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def visible(self, q_len: int, k_len: int, device: torch.device) -> torch.Tensor:
        """Boolean [B|1, 1, Lq, Lk]: True where the query may attend to the key."""
        q_pos = torch.arange(q_len, device=device) + self.q_offset
        k_pos = torch.arange(k_len, device=device)
        allowed = (k_pos[None, :] <= q_pos[:, None])[None, None]
        if self.doc_ids is not None:
            if self.q_offset or q_len != k_len:
                raise ValueError("document masking is for full packed rows, not for KV-cache decoding")
            docs = self.doc_ids
            allowed = allowed & (docs[:, None, :, None] == docs[:, None, None, :])
        return allowed

    def cached(self, key: tuple, build):
        """`build()` once per forward: every layer asks for the same mask."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def additive_bias(self, q_len: int, k_len: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Float [B|1, H|1, Lq, Lk]: 0 / -inf visibility plus the ALiBi distance penalty."""

        def build():
            allowed = self.visible(q_len, k_len, device)
            bias = torch.zeros(allowed.shape, device=device, dtype=torch.float32)
            bias = bias.masked_fill(~allowed, float("-inf"))
            if self.alibi_slopes is not None:
                q_pos = torch.arange(q_len, device=device) + self.q_offset
                distance = (q_pos[:, None] - torch.arange(k_len, device=device)[None, :]).clamp(min=0)
                bias = bias - self.alibi_slopes.to(device)[:, None, None] * distance
            return bias.to(dtype)

        return self.cached(("bias", q_len, k_len, device, dtype), build)

    def is_plain_causal(self, q_len: int, k_len: int) -> bool:
        return self.doc_ids is None and self.alibi_slopes is None and self.q_offset == 0 and q_len == k_len


def eager_attention(q, k, v, mask: AttentionMask) -> torch.Tensor:
    """The reference: explicit fp32 scores, bias and softmax."""
    qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))
    scores = (qh.float() @ kh.float().transpose(-1, -2)) * q.shape[-1] ** -0.5
    scores = scores + mask.additive_bias(q.shape[1], k.shape[1], q.device, torch.float32)
    probs = scores.softmax(dim=-1)
    return (probs @ vh.float()).to(q.dtype).transpose(1, 2)


def sdpa_attention(q, k, v, mask: AttentionMask) -> torch.Tensor:
    """torch SDPA: its fused causal kernel when the mask is plain causal, else an explicit mask/bias."""
    qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))
    q_len, k_len = q.shape[1], k.shape[1]
    if mask.is_plain_causal(q_len, k_len):
        out = F.scaled_dot_product_attention(qh, kh, vh, is_causal=True)
    elif q_len == 1 and mask.alibi_slopes is None and mask.doc_ids is None:
        out = F.scaled_dot_product_attention(qh, kh, vh)  # one new token sees the whole cache
    elif mask.alibi_slopes is None:
        visible = mask.cached(("visible", q_len, k_len, q.device), lambda: mask.visible(q_len, k_len, q.device))
        out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=visible)
    else:
        bias = mask.additive_bias(q_len, k_len, q.device, q.dtype)
        out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=bias)
    return out.transpose(1, 2)


@functools.cache
def _compiled_flex_attention():
    # lazy: torch.nn.attention.flex_attention exists from torch 2.5 (pyproject allows 2.4); only attention=flex needs it
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def flex_attention(q, k, v, mask: AttentionMask) -> torch.Tensor:
    """FlexAttention: a block-sparse mask (causal, documents) plus an ALiBi `score_mod`; compiled once."""
    from torch.nn.attention.flex_attention import create_block_mask  # lazy: torch >= 2.5 only, as above

    q_len, k_len = q.shape[1], k.shape[1]
    offset, docs, slopes = mask.q_offset, mask.doc_ids, mask.alibi_slopes

    def mask_mod(b, h, q_idx, kv_idx):
        causal = q_idx + offset >= kv_idx
        if docs is None:
            return causal
        return causal & (docs[b, q_idx] == docs[b, kv_idx])

    batch = None if docs is None else docs.shape[0]
    block_mask = mask.cached(("block_mask", q_len, k_len, q.device),
                             lambda: create_block_mask(mask_mod, batch, None, q_len, k_len, device=q.device))
    score_mod = None
    if slopes is not None:
        slopes = slopes.to(q.device)

        def score_mod(score, b, h, q_idx, kv_idx):
            return score - slopes[h] * (q_idx + offset - kv_idx)

    qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))
    out = _compiled_flex_attention()(qh, kh, vh, score_mod=score_mod, block_mask=block_mask)
    return out.transpose(1, 2)


def _varlen_documents(mask: AttentionMask, device: torch.device, length: int) -> tuple[torch.Tensor, int]:
    """(cu_seqlens int32 on `device`, max_seqlen int) for `flash_attn_varlen_func`, once per forward.

    The loader's pair costs nothing here. Without it (generate, evaluate) the offsets are derived on the device,
    whose `nonzero` waits for it, and the row length bounds max_seqlen: it only sizes the launch grid, and
    reading the true maximum back would be a second sync.
    """
    if mask.cu_seqlens is None:
        return mask.cached(("cu_seqlens", device), lambda: document_cu_seqlens(mask.doc_ids)), length
    cu = mask.cached(("cu_seqlens", device), lambda: mask.cu_seqlens.to(device, torch.int32, non_blocking=True))
    return cu, length if mask.max_seqlen is None else mask.max_seqlen


def flash_attention(q, k, v, mask: AttentionMask) -> torch.Tensor:
    """flash-attn 2: `flash_attn_varlen_func` over documents for packed rows, ALiBi through `alibi_slopes`."""
    flash_attn_func, flash_attn_varlen_func = flash_attn_functions()
    slopes = None if mask.alibi_slopes is None else mask.alibi_slopes.to(q.device, torch.float32)
    if mask.doc_ids is None:
        # causal=True aligns the mask to the bottom-right corner, which is what a KV cache needs.
        return flash_attn_func(q, k, v, causal=True, alibi_slopes=slopes)
    batch, length, heads, dim = q.shape
    cu, max_seqlen = _varlen_documents(mask, q.device, length)
    out = flash_attn_varlen_func(
        q.reshape(-1, heads, dim), k.reshape(-1, heads, dim), v.reshape(-1, heads, dim),
        cu, cu, max_seqlen, max_seqlen, causal=True, alibi_slopes=slopes,
    )
    return out.view(batch, length, heads, dim)


BACKENDS = {"eager": eager_attention, "sdpa": sdpa_attention, "flex": flex_attention, "flash": flash_attention}


def attend(backend: str, q, k, v, mask: AttentionMask, allow_fallback: bool) -> torch.Tensor:
    if backend == "flash" and (q.dtype not in FLASH_DTYPES or not q.is_cuda):
        if not allow_fallback:
            raise ValueError(
                f"model.attention=flash needs CUDA fp16/bf16 tensors, got {q.dtype} on {q.device} — "
                "run in bf16 on a GPU or use model.attention=auto"
            )
        backend = "sdpa"
    return BACKENDS[backend](q, k, v, mask)
