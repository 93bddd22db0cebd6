"""The model's configuration: one plain dataclass, used by Hydra as a structured config (`conf/model/*.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass

POSITIONS = ("rope", "alibi")
ATTENTION_BACKENDS = ("auto", "flash", "sdpa", "flex", "eager")
NORM_BACKENDS = ("auto", "apex", "torch", "reference")


@dataclass
class ModelConfig:
    name: str = "tiny"
    vocab_size: int = 64000
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 176
    max_seq_len: int = 4096
    position: str = "rope"  # rope | alibi
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    attention: str = "auto"  # auto | flash | sdpa | flex | eager
    norm: str = "auto"  # auto | apex | torch | reference
    loss_chunk_size: int = 0  # 0 = naive loss; >0 = cross-entropy over chunks of this many tokens
    activation_checkpointing: int = 0  # checkpoint every k-th layer; 0 = off
    compile: bool = False  # torch.compile each decoder layer (in place, state-dict keys unchanged)
    initializer_range: float = 0.02
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def validate(self) -> ModelConfig:
        """Raise ValueError naming the bad field; called by the model so a bad YAML fails before any allocation."""
        checks = [
            (self.position in POSITIONS, f"model.position={self.position!r} must be one of {POSITIONS}"),
            (self.attention in ATTENTION_BACKENDS,
             f"model.attention={self.attention!r} must be one of {ATTENTION_BACKENDS}"),
            (self.norm in NORM_BACKENDS, f"model.norm={self.norm!r} must be one of {NORM_BACKENDS}"),
            (self.hidden_size % self.num_heads == 0,
             f"model.hidden_size={self.hidden_size} must be divisible by model.num_heads={self.num_heads}"),
            (self.position != "rope" or self.head_dim % 2 == 0,
             f"RoPE needs an even head dim, got {self.head_dim}"),
            (min(self.vocab_size, self.hidden_size, self.num_layers, self.num_heads, self.intermediate_size) > 0,
             "model sizes (vocab_size, hidden_size, num_layers, num_heads, intermediate_size) must be positive"),
            (self.loss_chunk_size >= 0, f"model.loss_chunk_size={self.loss_chunk_size} must be >= 0"),
            (self.activation_checkpointing >= 0,
             f"model.activation_checkpointing={self.activation_checkpointing} must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self
