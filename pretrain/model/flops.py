"""Parameter and FLOP accounting shared by the planner and the trainer's MFU metric."""

from __future__ import annotations

import dataclasses

import torch

from .config import ModelConfig

# Dense bf16 tensor-core peak, TFLOP/s per GPU (SXM parts; A800/H800 are the export variants, same compute).
PEAK_TFLOPS = {"A100": 312.0, "A800": 312.0, "H100": 989.0, "H800": 989.0, "H200": 989.0}


def count_parameters(cfg: ModelConfig) -> int:
    """Exact parameter count of `BaichuanForCausalLM(cfg)`, built on the meta device (no memory allocated)."""
    from .baichuan import BaichuanForCausalLM

    # Kernel choices do not change the parameters; fixed ones let a planner on a laptop size a `flash` config.
    plain = dataclasses.replace(cfg, attention="eager", norm="reference", compile=False)
    with torch.device("meta"):
        model = BaichuanForCausalLM(plain)
    return sum(p.numel() for p in model.parameters())


def flops_per_token(cfg: ModelConfig, seq_len: int, recompute: bool = False) -> float:
    """Training FLOPs per token (forward + backward), PaLM appendix B convention:

        6 * N  +  12 * num_layers * hidden_size * seq_len

    N counts every weight that takes part in a matmul: all parameters except the input embedding (a lookup)
    and the RMSNorm weights; the untied lm_head is included. The attention term is q k^T and attention x v
    (2 matmuls x 2 FLOPs x seq_len x hidden per token and layer forward, x3 for forward + backward); like PaLM
    it counts the full square although causal kernels skip half of it, so MFU stays comparable across papers.
    With recompute=True (activation checkpointing) the forward runs twice: 8 * N + 16 * layers * hidden * seq.
    """
    h, layers = cfg.hidden_size, cfg.num_layers
    matmul_params = layers * (4 * h * h + 3 * h * cfg.intermediate_size) + h * cfg.vocab_size
    passes = 4 if recompute else 3  # forward = 1 pass of 2 FLOPs per weight; backward = 2 passes
    return 2.0 * passes * matmul_params + 4.0 * passes * layers * h * seq_len
