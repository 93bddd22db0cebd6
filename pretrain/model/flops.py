"""Parameter and FLOP accounting shared by the planner and the trainer's MFU metric."""

from __future__ import annotations

import dataclasses
import re

import torch

from .baichuan import BaichuanForCausalLM
from .config import ModelConfig

# Dense (no 2:4 sparsity) bf16 tensor-core peak, TFLOP/s per GPU, from NVIDIA's datasheets (they print the
# sparse figure first: halve it). fp16 peaks equal bf16 on all of these, with fp32 accumulation as torch uses.
# The form factor matters: an H100 PCIe runs fewer SMs at lower clocks than the SXM part. A800/H800/H20 are the
# export variants (A800 and H800 SXM keep the full compute; H20 is cut down). RTX 4090: 165.2 with fp32
# accumulation (GeForce halves it; 330 is the fp16-accumulate figure). `cluster.gpu` must be one of these names.
GPU_PEAK_TFLOPS = {
    "A100-SXM": 312.0, "A100-PCIe": 312.0, "A800": 312.0,
    "H100-SXM": 989.0, "H100-PCIe": 756.0, "H100-NVL": 835.0, "H800": 989.0, "H800-PCIe": 756.0, "H20": 148.0,
    "H200": 989.0, "H200-NVL": 835.0,
    "L40S": 362.0, "RTX4090": 165.2,
}

# torch.cuda.get_device_name() -> table entry, by whole tokens (so "H20" never matches "H200"): the model token
# and its form factor ("PCIe", "NVL"; SXM when the name says neither, as "NVIDIA H100 80GB HBM3" does).
_MODELS = {
    "A100": {None: "A100-SXM", "PCIE": "A100-PCIe"}, "A800": {None: "A800", "PCIE": "A800"},
    "H100": {None: "H100-SXM", "PCIE": "H100-PCIe", "NVL": "H100-NVL"}, "H800": {None: "H800", "PCIE": "H800-PCIe"},
    "H20": {None: "H20"}, "H200": {None: "H200", "NVL": "H200-NVL"}, "L40S": {None: "L40S"}, "4090": {None: "RTX4090"},
}
# Tokens that say nothing about compute: vendor, brand, memory size and type, the SXM socket generation.
_NEUTRAL = re.compile(r"NVIDIA|GEFORCE|RTX|\d+GB|HBM\d*E?|SXM\d*")


def gpu_from_device_name(name: str) -> str | None:
    """The GPU_PEAK_TFLOPS entry of a CUDA device name, or None when the name holds any token we do not know
    ("RTX 4090 D", "L40", "GH200 480GB"): a wrong peak would silently skew every MFU, so unknown is unknown."""
    tokens = [t for t in re.split(r"[\s_-]+", name.upper()) if t]
    models = [t for t in tokens if t in _MODELS]
    forms = [t for t in tokens if t in ("PCIE", "NVL")]
    unknown = [t for t in tokens if t not in _MODELS and t not in ("PCIE", "NVL") and not _NEUTRAL.fullmatch(t)]
    if len(models) != 1 or len(forms) > 1 or unknown:
        return None
    return _MODELS[models[0]].get(forms[0] if forms else None)


def count_parameters(cfg: ModelConfig) -> int:
    """Exact parameter count of `BaichuanForCausalLM(cfg)`, built on the meta device (no memory allocated)."""
    # Kernel choices do not change the parameters; fixed ones let a planner on a laptop size a `flash` config.
    plain = dataclasses.replace(cfg, attention="eager", norm="reference", compile=False)
    with torch.device("meta"):
        model = BaichuanForCausalLM(plain)
    return sum(p.numel() for p in model.parameters())


def checkpointed_layers(cfg: ModelConfig) -> int:
    """Decoder layers whose forward activation checkpointing runs twice: every k-th one from layer 0
    (`BaichuanModel.forward` checkpoints layer i when i % k == 0), i.e. ceil(num_layers / k)."""
    every = cfg.activation_checkpointing
    return len(range(0, cfg.num_layers, every)) if every else 0


def _layer_matmul_params(cfg: ModelConfig) -> int:
    h = cfg.hidden_size
    return 4 * h * h + 3 * h * cfg.intermediate_size  # W_pack (q, k, v) + o_proj; gate, up, down


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward), PaLM appendix B convention:

        6 * N  +  12 * num_layers * hidden_size * seq_len

    N counts every weight that takes part in a matmul: all parameters except the input embedding (a lookup)
    and the RMSNorm weights; the untied lm_head is included. The attention term is q k^T and attention x v
    (2 matmuls x 2 FLOPs x seq_len x hidden per token and layer forward, x3 for forward + backward); like PaLM
    it counts the full square although causal kernels skip half of it, so MFU stays comparable across papers.
    """
    h, layers = cfg.hidden_size, cfg.num_layers
    matmul_params = layers * _layer_matmul_params(cfg) + h * cfg.vocab_size
    passes = 3  # forward = 1 pass of 2 FLOPs per weight; backward = 2 passes
    return 2.0 * passes * matmul_params + 4.0 * passes * layers * h * seq_len


def hardware_flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    """What the GPU executes (for HFU): the model FLOPs plus one more forward of each layer that activation
    checkpointing recomputes — 2 FLOPs per weight and 4 * hidden * seq_len for its attention scores. The
    embedding and lm_head are never recomputed, so full checkpointing costs slightly less than 8N."""
    layer_forward = 2.0 * _layer_matmul_params(cfg) + 4.0 * cfg.hidden_size * seq_len
    return flops_per_token(cfg, seq_len) + checkpointed_layers(cfg) * layer_forward
