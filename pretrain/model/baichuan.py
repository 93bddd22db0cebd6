"""Baichuan-7B / 13B: pre-norm decoder, RMSNorm, fused QKV (`W_pack`), RoPE or ALiBi, SwiGLU, untied head.

Module and parameter names equal the released checkpoints (`model.layers.N.self_attn.W_pack.weight`, ...), so the
released layout loads with `load_state_dict` as is. Weights are initialized inside each module's constructor
(`reset_parameters`), which keeps init deterministic under `torch.manual_seed` and correct under ZeRO-3
`deepspeed.zero.Init` (it partitions every module right after its constructor returns).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .attention import AttentionMask, attend, resolve_attention_backend
from .config import ModelConfig
from .embedding import Embedding
from .kv_cache import KVCache
from .loss import LossWorkspace, causal_lm_loss
from .norm import RMSNorm, resolve_norm_backend
from .positions import alibi_slopes, apply_rope, document_positions, rope_cos_sin

logger = logging.getLogger(__name__)


class Linear(nn.Linear):
    """Bias-free linear layer with N(0, std) init."""

    def __init__(self, in_features: int, out_features: int, std: float):
        self.std = std  # read by reset_parameters, which nn.Linear.__init__ calls
        super().__init__(in_features, out_features, bias=False)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, mean=0.0, std=self.std)


class LMHead(Linear):
    """The output projection; with labels it returns the loss instead of logits. The loss runs inside this
    module's forward so that hooks on the head (e.g. ZeRO-3 gathering its weight) wrap the fused loss too."""

    def __init__(self, in_features: int, out_features: int, std: float):
        super().__init__(in_features, out_features, std)
        self.loss_workspace = LossWorkspace()  # plain attribute: not a parameter, buffer or state_dict entry

    def forward(self, hidden, labels=None, chunk_size: int = 0):
        if labels is None:
            return super().forward(hidden)
        return causal_lm_loss(hidden, self.weight, labels, chunk_size, self.loss_workspace)


class BaichuanAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, backend: str, layer_index: int):
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.backend, self.allow_fallback = backend, cfg.attention == "auto"
        self.layer_index = layer_index
        self.W_pack = Linear(cfg.hidden_size, 3 * cfg.hidden_size, cfg.initializer_range)
        self.o_proj = Linear(cfg.hidden_size, cfg.hidden_size, cfg.initializer_range)

    def forward(self, x, rope: tuple | None, mask: AttentionMask, kv_cache: KVCache | None = None):
        batch, length, hidden = x.shape
        q, k, v = self.W_pack(x).view(batch, length, 3, self.num_heads, self.head_dim).unbind(dim=2)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer_index, k, v)
        out = attend(self.backend, q, k, v, mask, self.allow_fallback)
        return self.o_proj(out.reshape(batch, length, hidden))


class BaichuanMLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        std = cfg.initializer_range
        self.gate_proj = Linear(cfg.hidden_size, cfg.intermediate_size, std)
        self.up_proj = Linear(cfg.hidden_size, cfg.intermediate_size, std)
        self.down_proj = Linear(cfg.intermediate_size, cfg.hidden_size, std)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class BaichuanDecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, attention_backend: str, norm_backend: str, layer_index: int):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.norm_eps, norm_backend)
        self.self_attn = BaichuanAttention(cfg, attention_backend, layer_index)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.norm_eps, norm_backend)
        self.mlp = BaichuanMLP(cfg)

    def forward(self, x, rope, mask: AttentionMask, kv_cache: KVCache | None = None):
        x = x + self.self_attn(self.input_layernorm(x), rope, mask, kv_cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class BaichuanModel(nn.Module):
    def __init__(self, cfg: ModelConfig, attention_backend: str, norm_backend: str):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = Embedding(cfg.vocab_size, cfg.hidden_size, cfg.initializer_range)
        self.layers = nn.ModuleList(
            BaichuanDecoderLayer(cfg, attention_backend, norm_backend, i) for i in range(cfg.num_layers)
        )
        self.norm = RMSNorm(cfg.hidden_size, cfg.norm_eps, norm_backend)
        # A buffer on the model's device: rebuilt on the host per forward, the slopes cost a blocking copy per
        # micro-batch. Non-persistent, so state dicts, checkpoints and HF exports keep the released layout.
        self.register_buffer("alibi_slopes", alibi_slopes(cfg.num_heads) if cfg.position == "alibi" else None,
                             persistent=False)

    def reset_parameters(self) -> None:
        """Refill the slopes (after `to_empty`, a non-persistent buffer holds garbage and no checkpoint has it)."""
        if self.alibi_slopes is not None:
            self.alibi_slopes = alibi_slopes(self.cfg.num_heads).to(self.alibi_slopes.device)

    def _slopes_on(self, device: torch.device) -> torch.Tensor:
        """The fp32 slopes on `device`. Rebuilt once, not per step, where something moved or cast the buffer:
        `zero.Init` creates constructor tensors in the training dtype and DeepSpeed leaves a zero.Init model's
        buffers where they are; `model.to(torch.bfloat16)` casts floating buffers (flash-attn wants fp32)."""
        slopes = self.alibi_slopes
        if slopes.device != device or slopes.dtype != torch.float32:
            slopes = self.alibi_slopes = alibi_slopes(self.cfg.num_heads).to(device)
        return slopes

    def forward(self, input_ids, doc_ids=None, kv_cache: KVCache | None = None, cu_seqlens=None, max_seqlen=None):
        cfg = self.cfg
        x = self.embed_tokens(input_ids)
        offset = 0 if kv_cache is None else kv_cache.length
        slopes = self._slopes_on(x.device) if self.alibi_slopes is not None else None
        mask = AttentionMask(doc_ids=doc_ids, q_offset=offset, alibi_slopes=slopes, cu_seqlens=cu_seqlens,
                             max_seqlen=max_seqlen)
        rope = None
        if cfg.position == "rope":
            if doc_ids is not None:
                positions = document_positions(doc_ids)
            else:
                positions = torch.arange(offset, offset + input_ids.shape[1], device=x.device)[None]
            rope = rope_cos_sin(positions, cfg.head_dim, cfg.rope_theta, x.dtype)
        every = cfg.activation_checkpointing
        for i, layer in enumerate(self.layers):
            if every and self.training and kv_cache is None and i % every == 0:
                x = checkpoint(layer, x, rope, mask, use_reentrant=False)
            else:
                x = layer(x, rope, mask, kv_cache)
        if kv_cache is not None:
            kv_cache.advance(input_ids.shape[1])
        return self.norm(x)


class BaichuanForCausalLM(nn.Module):
    """`model(ids, labels=...)` -> fp32 mean loss; `model(ids)` -> logits [B, L, V].

    Packed rows: `doc_ids` [B, L]; `cu_seqlens`/`max_seqlen` (the data loader's, built on the host) spare the
    flash-attn path deriving them on the device, which waits for it. Other backends do not read them.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg.validate()
        attention_backend = resolve_attention_backend(cfg.attention)
        norm_backend = resolve_norm_backend(cfg.norm)
        logger.info(
            "Baichuan model %s: attention=%s (requested %s), norm=%s (requested %s), position=%s",
            cfg.name, attention_backend, cfg.attention, norm_backend, cfg.norm, cfg.position,
        )
        self.attention_backend, self.norm_backend = attention_backend, norm_backend
        self.model = BaichuanModel(cfg, attention_backend, norm_backend)
        self.lm_head = LMHead(cfg.hidden_size, cfg.vocab_size, cfg.initializer_range)
        if cfg.compile:
            for layer in self.model.layers:
                layer.compile()  # in place: parameter names stay those of the released layout

    def reset_parameters(self) -> None:
        """Re-initialize every weight (e.g. after building on the meta device and `to_empty`)."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, input_ids, labels=None, doc_ids=None, kv_cache: KVCache | None = None, cu_seqlens=None,
                max_seqlen: int | None = None):
        hidden = self.model(input_ids, doc_ids=doc_ids, kv_cache=kv_cache, cu_seqlens=cu_seqlens,
                            max_seqlen=max_seqlen)
        return self.lm_head(hidden, labels, self.cfg.loss_chunk_size)
