"""Preallocated key/value cache for incremental decoding (one tensor pair per layer, [B, max_len, H, D])."""

from __future__ import annotations

import torch


class KVCache:
    def __init__(self, num_layers: int, batch: int, max_len: int, num_heads: int, head_dim: int,
                 dtype: torch.dtype, device: torch.device | str):
        shape = (batch, max_len, num_heads, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.max_len = max_len
        self.length = 0  # tokens already cached; advanced by the model after all layers ran

    @classmethod
    def for_model(cls, model, batch: int, max_len: int) -> KVCache:
        cfg = model.cfg
        weight = model.lm_head.weight
        return cls(cfg.num_layers, batch, max_len, cfg.num_heads, cfg.head_dim, weight.dtype, weight.device)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's k/v [B, T, H, D] and return all keys/values so far [B, length + T, H, D]."""
        stop = self.length + k.shape[1]
        if stop > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} tokens, {stop} requested")
        self.keys[layer][:, self.length:stop] = k
        self.values[layer][:, self.length:stop] = v
        return self.keys[layer][:, :stop], self.values[layer][:, :stop]

    def advance(self, num_tokens: int) -> None:
        self.length += num_tokens
