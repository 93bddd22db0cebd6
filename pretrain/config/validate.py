"""Checks the types alone cannot express; each failure is one line naming the key and the allowed values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from plumbing.user_error import ConfigError
from pretrain.evaluation.config import check_evaluation_config
from pretrain.model.flops import GPU_PEAK_TFLOPS
from pretrain.model.kernels import attention_backend_problem, norm_backend_problem

__all__ = ["ConfigError"]  # the shared user-error type for config mistakes, re-exported for pretrain's modules

if TYPE_CHECKING:
    from pretrain.config.schema import PretrainConfig, TrainConfig

# The model's linear layers (pretrain/model/baichuan.py) that LoRA adapters can wrap. Not `lm_head`: with labels
# its forward returns the loss (the loss is fused into the head), and peft adds lora_B(lora_A(x)) to whatever the
# wrapped layer returns, so the "loss" would come back as a (batch, seq, vocab) tensor.
LORA_TARGETS = {"W_pack", "o_proj", "gate_proj", "up_proj", "down_proj"}

_CHOICES = {
    "train.precision": ("bf16", "fp16", "fp32"),
    "train.schedule": ("cosine", "linear", "constant"),
    "deepspeed.buckets": ("auto", "fixed"),
    "logging.wandb_mode": ("offline", "online", "disabled"),
}


def _get(config: PretrainConfig, dotted: str):
    node = config
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def validate_config(config: PretrainConfig) -> None:
    try:
        config.model.validate()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for key, allowed in _CHOICES.items():
        value = _get(config, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not one of {', '.join(allowed)}")
    if config.deepspeed.zero_stage not in (0, 1, 2, 3):
        raise ConfigError(f"deepspeed.zero_stage={config.deepspeed.zero_stage} must be 0, 1, 2 or 3")
    if config.train.precision == "fp16" and config.deepspeed.zero_stage == 0:
        # DeepSpeed 0.19.8 wraps the optimizer in FP16_UnfusedOptimizer here: engine.backward scales the loss only
        # for ZeRO optimizers (runtime/engine.py ~3417), yet its step divides the gradients by the loss scale
        # (fp16/unfused_optimizer.py ~245) — unscaled fp16 gradients underflow and every update shrinks by the scale.
        raise ConfigError("train.precision=fp16 does not train under deepspeed.zero_stage=0 (DeepSpeed never scales "
                          "the loss there, yet divides the gradients by the scale) — use train.precision=bf16, "
                          "or deepspeed=zero1 (ZeRO >= 1)")
    positive = ("train.seq_len", "train.micro_batch_size", "train.max_steps", "train.save_interval",
                "train.dist_timeout_minutes")
    for key in positive:
        if _get(config, key) <= 0:
            raise ConfigError(f"{key}={_get(config, key)} must be > 0")
    if config.train.seq_len > config.model.max_seq_len:
        raise ConfigError(
            f"train.seq_len={config.train.seq_len} exceeds model.max_seq_len={config.model.max_seq_len}"
        )
    check_comm_config(config.comm)
    check_evaluation_config(config.evaluation)
    # The peak MFU is measured against; an unknown or ambiguous name ("H100": 756, 835 or 989?) fails here.
    if config.cluster.gpu not in GPU_PEAK_TFLOPS:
        raise ConfigError(f"cluster.gpu={config.cluster.gpu!r} is not one of {', '.join(GPU_PEAK_TFLOPS)}")
    if config.finetune.init_from:
        check_finetune_config(config)
    elif not config.data.sources:
        raise ConfigError("data.sources is empty — pick a data config (data=demo) or list token-shard sources")


def check_finetune_config(config: PretrainConfig) -> None:
    finetune = config.finetune
    if not finetune.data:
        raise ConfigError("finetune.data is empty — list the instruction JSONL files (finetune.data=[sft.jsonl])")
    if finetune.lora.rank < 0 or finetune.lora.alpha <= 0:
        raise ConfigError(f"finetune.lora.rank={finetune.lora.rank} must be >= 0 (0 = full fine-tuning) and "
                          f"finetune.lora.alpha={finetune.lora.alpha} > 0")
    if not 0 <= finetune.lora.dropout < 1:
        raise ConfigError(f"finetune.lora.dropout={finetune.lora.dropout} must be in [0, 1), e.g. 0.05")
    if finetune.lora.rank and not finetune.lora.targets:
        raise ConfigError("finetune.lora.targets is empty — name the layers that get adapters, e.g. [W_pack,o_proj]")
    if finetune.lora.rank and "lm_head" in finetune.lora.targets:
        raise ConfigError("finetune.lora.targets: lm_head cannot take a LoRA adapter (its forward returns the loss, "
                          "which the adapter's output would be added to) — adapt the decoder's linears only, or "
                          "fine-tune every weight with finetune.lora.rank=0")
    unknown = sorted(set(finetune.lora.targets) - LORA_TARGETS)
    if finetune.lora.rank and unknown:
        raise ConfigError(f"finetune.lora.targets: {unknown} are not linear layers of the model — choose from "
                          f"{', '.join(sorted(LORA_TARGETS))}")


def check_comm_config(comm) -> None:
    """One-line errors for the comm node (the probe and the bucket rule in pretrain/distributed read it)."""
    if not 0 < comm.latency_share < 1:
        raise ConfigError(f"comm.latency_share={comm.latency_share} must be in (0, 1), e.g. 0.1")
    sizes = list(comm.probe_sizes_kib)
    if len(set(sizes)) < 2 or min(sizes) <= 0:
        raise ConfigError(f"comm.probe_sizes_kib={sizes} needs two or more distinct positive sizes")
    if comm.probe_repeats < 1:
        raise ConfigError(f"comm.probe_repeats={comm.probe_repeats} must be >= 1")


def check_kernels_can_train(config: PretrainConfig) -> None:
    """An explicit kernel that cannot train on this machine's device (flash or apex that cannot load, flex on CPU)
    fails here, before any rank starts work, instead of at the first forward or backward on every rank.
    Not part of `validate_config`: that one is device-independent (a login node composes GPU configs)."""
    problem = attention_backend_problem(config.model.attention, training=True) or norm_backend_problem(config.model.norm)
    if problem:
        raise ConfigError(problem)


@dataclass(frozen=True)
class BatchLayout:
    micro_batch_size: int
    gradient_accumulation_steps: int
    data_parallel_size: int

    @property
    def global_batch_size(self) -> int:
        return self.micro_batch_size * self.gradient_accumulation_steps * self.data_parallel_size


def resolve_batch_layout(train: TrainConfig, data_parallel_size: int) -> BatchLayout:
    """global batch = micro batch × accumulation × data-parallel size, or a clear error naming the values."""
    per_step = train.micro_batch_size * data_parallel_size
    if train.global_batch_size == 0:
        return BatchLayout(train.micro_batch_size, 1, data_parallel_size)
    if train.global_batch_size % per_step:
        raise ConfigError(
            f"train.global_batch_size={train.global_batch_size} is not a multiple of "
            f"train.micro_batch_size={train.micro_batch_size} × data-parallel size={data_parallel_size} "
            f"(= {per_step})"
        )
    return BatchLayout(train.micro_batch_size, train.global_batch_size // per_step, data_parallel_size)
