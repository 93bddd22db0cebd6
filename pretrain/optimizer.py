"""The optimizer and its learning-rate schedule: AdamW with decoupled weight decay per parameter group, linear
warmup then cosine or linear decay to a floor."""

from __future__ import annotations

import math

import torch

from pretrain.config import PretrainConfig
from pretrain.stability import SkipStepAdamW, with_skip_step


def lr_lambda(config: PretrainConfig):
    """Warmup linearly to the peak, then decay (cosine or linear) to `min_lr_ratio` × peak at max_steps."""
    train = config.train
    warmup, total, floor = train.warmup_steps, train.max_steps, train.min_lr_ratio

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if train.schedule == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / (total - warmup))
        decay = 0.5 * (1 + math.cos(math.pi * progress)) if train.schedule == "cosine" else 1 - progress
        return floor + (1 - floor) * decay

    return factor


def parameter_groups(model: torch.nn.Module, config: PretrainConfig) -> list[dict]:
    """Decay matrices; never decay norms and biases (1-D); embeddings only when train.decay_embeddings."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_embedding = "embed" in name
        # Under ZeRO-3's zero.Init a parameter's data is an empty partition; ds_shape is its real shape.
        ndim = len(getattr(param, "ds_shape", param.shape))
        skip = ndim < 2 or (is_embedding and not config.train.decay_embeddings)
        (no_decay if skip else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.train.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # An empty group (LoRA trains only matrices) is dropped by ZeRO-3's optimizer, which would leave the LR
    # schedule with one more group than the optimizer it schedules.
    return [group for group in groups if group["params"]]


def build_optimizer(model: torch.nn.Module, config: PretrainConfig,
                    cpu_adam: type[torch.optim.Optimizer] | None = None) -> torch.optim.Optimizer:
    """AdamW over `parameter_groups`; `cpu_adam` (DeepSpeedCPUAdam, handed in by the DeepSpeed engine, which
    alone imports DeepSpeed) when the optimizer state is offloaded to the CPU."""
    train = config.train
    groups = parameter_groups(model, config)
    kwargs = dict(lr=train.lr, betas=(train.beta1, train.beta2), eps=train.adam_eps)
    # Every optimizer built here can be vetoed by the trainer after backward (pretrain/stability/skip_step.py).
    if config.deepspeed.offload_optimizer:
        if cpu_adam is None:
            raise ValueError("deepspeed.offload_optimizer needs the CPU Adam class of the engine that offloads")
        return with_skip_step(cpu_adam)(groups, adamw_mode=True, **kwargs)
    if torch.cuda.is_available():
        return SkipStepAdamW(groups, fused=True, **kwargs)
    return SkipStepAdamW(groups, foreach=True, **kwargs)
