"""Back-of-the-envelope plan for a pretraining run: parameters, FLOPs, per-GPU memory per ZeRO stage, speed.

    python -m pretrain.plan model=baichuan_7b deepspeed=zero3 cluster.num_gpus=1000 train.seq_len=4096 \
        [train.micro_batch_size=1 train.tokens=1.2e12 gpu=A800 mfu=0.583 model.activation_checkpointing=0 ...]

Reads `conf/model/<model>.yaml` (any `model.<field>=` overrides it) and prints JSON. Memory, per GPU, bf16
mixed precision with Adam (ZeRO paper accounting): parameters 2N bytes, gradients 2N, optimizer states 12N
(fp32 master weights, momentum, variance); ZeRO-1 partitions the optimizer states over the data-parallel
ranks, ZeRO-2 also the gradients, ZeRO-3 also the parameters. Activations: see `activation_bytes`. Not counted:
ZeRO-3 gather/prefetch buffers, allocator fragmentation, communication buckets.

`inference_memory`: weights for bf16 / int8 / int4 inference as `pretrain.inference.quantize` stores them (the
decoder's linear layers quantized, embedding and lm_head bf16; the same arithmetic the quantization test checks
against real torchao tensors) plus a bf16 KV cache of `inference_tokens` at batch 1 — beside, for
baichuan_13b, the GPU memory Baichuan-13B's release reports (26.0 / 15.8 / 9.7 GB).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List  # noqa: UP035 - OmegaConf needs typing generics on py3.10

from omegaconf import OmegaConf

from plumbing.command_line import CommandLine
from plumbing.hydra_compose import PrimaryConfig, compose_typed
from pretrain.cli import UsageError
from pretrain.inference.quantize import planned_weight_bytes
from pretrain.model import ModelConfig
from pretrain.model.flops import GPU_PEAK_TFLOPS, checkpointed_layers, count_parameters, flops_per_token

CONF_MODEL_DIR = Path(__file__).resolve().parents[1] / "conf" / "model"
GIB = 1024**3
# Baichuan-13B's README: GPU memory for inference in bf16/fp16, int8 and int4 (measured, GB).
RELEASE_13B_INFERENCE_GB = {"bf16": 26.0, "int8": 15.8, "int4": 9.7}


@dataclass
class ClusterArgs:
    num_gpus: int = 8  # data-parallel GPUs (ZeRO partitions over all of them)


@dataclass
class TrainArgs:
    seq_len: int = 4096
    micro_batch_size: int = 1  # sequences per GPU per forward (activation memory scales with it)
    tokens: float = 1.2e12  # Baichuan-7B saw 1.2T tokens


@dataclass
class PlanArgs:
    model: str = "baichuan_7b"  # a conf/model preset; model.<field>=value overrides one of its fields
    deepspeed: str = "zero3"  # zero0 | zero1 | zero2 | zero3
    gpu: str = "A800"  # the GPU whose peak TFLOPS sets the speed (see pretrain/model/flops.py)
    mfu: float = 0.583  # Baichuan-7B's reported MFU on A800
    inference_tokens: int = 2048  # prompt + generated tokens in the batch-1 KV cache of inference_memory
    cluster: ClusterArgs = field(default_factory=ClusterArgs)
    train: TrainArgs = field(default_factory=TrainArgs)
    # The model.<field>=value arguments, collected here so --cfg job shows (and a saved config replays) them.
    model_overrides: List[str] = field(default_factory=list)  # noqa: UP006 - e.g. [hidden_size=8192]


def load_model_config(name: str, overrides: list[str]) -> ModelConfig:
    path = CONF_MODEL_DIR / f"{name}.yaml"
    if not path.is_file():
        choices = sorted(p.stem for p in CONF_MODEL_DIR.glob("*.yaml"))
        raise UsageError(f"model={name} has no {path} — choose one of {choices}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(ModelConfig), OmegaConf.load(path),
                                 OmegaConf.from_dotlist(overrides))
    except Exception as exc:
        raise UsageError(f"bad model override ({str(exc).splitlines()[0]}) — keys are ModelConfig fields") from exc
    return OmegaConf.to_object(merged).validate()


def activation_bytes(cfg: ModelConfig, seq_len: int, micro_batch: int) -> int:
    """Activation memory kept for backward, bf16, flash attention (no seq^2 term), per micro-batch.

    A layer saves its input and the norm output (2 sbh bytes each), q, k, v and the attention output (8 sbh),
    the second norm's input and output (4 sbh), and in the SwiGLU gate, silu(gate), up and their product
    (8 sbi): 16 sbh + 8 sbi. A checkpointed layer keeps only its input (2 sbh) and recomputes one layer at a
    time. The loss adds bf16 + fp32 logits and their gradient (10 bytes per logit) over loss_chunk_size
    tokens when chunked, else over every token.
    """
    tokens = seq_len * micro_batch
    per_layer = tokens * (16 * cfg.hidden_size + 8 * cfg.intermediate_size)
    checkpointed = checkpointed_layers(cfg)
    layers = (cfg.num_layers - checkpointed) * per_layer + checkpointed * 2 * tokens * cfg.hidden_size
    layers += per_layer if checkpointed else 0  # the layer being recomputed
    loss_tokens = min(cfg.loss_chunk_size, tokens) if cfg.loss_chunk_size else tokens
    return layers + 2 * tokens * cfg.hidden_size + 10 * loss_tokens * cfg.vocab_size


def checkpoint_bytes(parameters: int, precision: str = "bf16") -> int:
    """One checkpoint on disk, all ranks together (ZeRO's partitions add up to the whole, at every stage): the
    weights in the training dtype plus Adam's fp32 states — master weights (mixed precision only), momentum and
    variance. bf16/fp16: 2N + 12N = 14N bytes; fp32: 4N + 8N = 12N."""
    return parameters * (12 if precision == "fp32" else 14)


def memory_per_gpu(parameters: int, stage: int, num_gpus: int, activations: int) -> dict[str, float]:
    def shard(nbytes: int, partitioned: bool) -> float:
        return nbytes / num_gpus if partitioned else nbytes

    parts = {
        "params": shard(2 * parameters, stage >= 3),
        "grads": shard(2 * parameters, stage >= 2),
        "optimizer_states": shard(12 * parameters, stage >= 1),
        "activations": activations,
    }
    parts["total"] = sum(parts.values())
    return {name: round(value / GIB, 2) for name, value in parts.items()}


def inference_memory(cfg: ModelConfig, tokens: int) -> dict[str, dict[str, float]]:
    """bf16 / int8 / int4 weights (as stored after quantization) + a bf16 KV cache of `tokens` at batch 1, in GB
    (1e9, the release's unit) and GiB."""
    kv_cache = 2 * cfg.num_layers * cfg.hidden_size * 2 * tokens  # keys and values, 2 bytes each
    table = {}
    for label, mode in (("bf16", "none"), ("int8", "int8"), ("int4", "int4")):
        weights = planned_weight_bytes(cfg, mode, dtype_bytes=2, device="cuda")  # GPU serving: int4 padded
        row = {"weights_gb": round(weights / 1e9, 2), "weights_gib": round(weights / GIB, 2),
               "kv_cache_gb": round(kv_cache / 1e9, 2), "weights_plus_kv_cache_gb": round((weights + kv_cache) / 1e9, 2)}
        if cfg.name == "baichuan_13b":
            row["release_gpu_memory_gb"] = RELEASE_13B_INFERENCE_GB[label]
        table[label] = row
    return table


def plan(args: PlanArgs, model_overrides: list[str]) -> dict:
    if args.deepspeed not in {f"zero{i}" for i in range(4)}:
        raise UsageError(f"deepspeed={args.deepspeed} is not one of zero0, zero1, zero2, zero3")
    if args.gpu not in GPU_PEAK_TFLOPS:
        raise UsageError(f"gpu={args.gpu} is not one of {', '.join(GPU_PEAK_TFLOPS)}")
    if args.cluster.num_gpus < 1 or args.train.seq_len < 1 or args.train.micro_batch_size < 1:
        raise UsageError("cluster.num_gpus, train.seq_len and train.micro_batch_size must be positive")
    if args.inference_tokens < 1:
        raise UsageError(f"inference_tokens={args.inference_tokens} must be positive")
    if not 0 < args.mfu <= 1:
        raise UsageError(f"mfu={args.mfu} must be in (0, 1]")
    cfg = load_model_config(args.model, model_overrides)
    parameters = count_parameters(cfg)
    seq, mbs, gpus = args.train.seq_len, args.train.micro_batch_size, args.cluster.num_gpus
    per_token = flops_per_token(cfg, seq)
    activations = activation_bytes(cfg, seq, mbs)
    memory = {f"zero{s}": memory_per_gpu(parameters, s, gpus, activations) for s in range(4)}
    throughput = {}
    for gpu, peak in GPU_PEAK_TFLOPS.items():
        per_gpu = args.mfu * peak * 1e12 / per_token
        throughput[gpu] = {"peak_tflops": peak, "tokens_per_s_per_gpu": round(per_gpu),
                           "tokens_per_s_cluster": round(per_gpu * gpus),
                           "days_for_train_tokens": round(args.train.tokens / (per_gpu * gpus) / 86400, 2)}
    return {
        "model": cfg.name, "parameters": parameters,
        "flops_per_token": per_token,
        "flops_per_token_formula": "6*N + 12*num_layers*hidden_size*seq_len, N = parameters without the input "
                                   "embedding and norms (training, no recompute)",
        "seq_len": seq, "micro_batch_size": mbs, "num_gpus": gpus, "mfu": args.mfu,
        "activation_checkpointing": cfg.activation_checkpointing, "loss_chunk_size": cfg.loss_chunk_size,
        "deepspeed": args.deepspeed, "memory_gib_per_gpu": memory[args.deepspeed],
        "checkpoint_gib": round(checkpoint_bytes(parameters) / GIB, 2),
        "memory_gib_per_gpu_by_stage": memory,
        "gpu": args.gpu, "throughput": throughput[args.gpu], "throughput_by_gpu": throughput,
        "inference_tokens": args.inference_tokens, "inference_memory": inference_memory(cfg, args.inference_tokens),
    }


def compose_plan_args(overrides: list[str], primary: PrimaryConfig | None) -> PlanArgs:
    """`model` is a preset name here, not conf/'s model group, so `model.<field>=` arguments are set aside for
    the ModelConfig and the rest composes into PlanArgs."""
    args = compose_typed(PlanArgs, "plan", [a for a in overrides if not a.startswith("model.")],
                         uses_conf_dir=False, primary=primary, fix="see `python -m pretrain.plan --help`")
    args.model_overrides += [a.removeprefix("model.") for a in overrides if a.startswith("model.")]
    load_model_config(args.model, args.model_overrides)  # a bad preset or model field fails before printing
    return args


COMMAND = CommandLine(
    prog="python -m pretrain.plan",
    summary="parameters, FLOPs, per-GPU memory per ZeRO stage and speed of a pretraining run (prints JSON)",
    example="model=baichuan_7b deepspeed=zero3 cluster.num_gpus=1000 train.seq_len=4096 model.loss_chunk_size=1024",
    schema=PlanArgs, config_name="plan", compose=compose_plan_args,
    also_user_errors=(FileNotFoundError, ValueError),  # as before: a model override the config refuses
)


def main(argv: list[str] | None = None) -> int:
    return COMMAND.run(lambda args: print(json.dumps(plan(args, args.model_overrides), indent=2)), argv)


if __name__ == "__main__":
    sys.exit(main())
