"""Our config → DeepSpeed's JSON config: the one place the two meet (pure; DeepSpeed is not imported)."""

from __future__ import annotations

import torch

from pretrain.config import BatchLayout, PretrainConfig
from pretrain.distributed import CommProfile, choose_bucket_sizes


def bucket_sizes(config: PretrainConfig, world_size: int, profile: CommProfile | None = None) -> dict[str, int]:
    """Communication bucket sizes in elements: fixed, the world/hidden-size rule, or from the comm probe's fit
    (the rule and the probe are documented in pretrain/distributed/buckets.py and docs/trainer.md)."""
    return choose_bucket_sizes(config, world_size, profile).as_dict()


def render_deepspeed_config(config: PretrainConfig, layout: BatchLayout, world_size: int,
                            load_universal: bool = False, comm_profile: CommProfile | None = None) -> dict:
    """The one place our config becomes DeepSpeed's JSON dict."""
    ds, train = config.deepspeed, config.train
    buckets = bucket_sizes(config, world_size, comm_profile)
    zero: dict = {
        "stage": ds.zero_stage,
        "overlap_comm": ds.overlap_comm,
        "contiguous_gradients": ds.contiguous_gradients,
        "reduce_bucket_size": buckets["reduce"],
        "allgather_bucket_size": buckets["allgather"],
    }
    if ds.zero_stage == 3:
        zero.update(
            stage3_prefetch_bucket_size=buckets["prefetch"],
            stage3_param_persistence_threshold=ds.param_persistence_threshold,
            stage3_max_live_parameters=ds.max_live_parameters,
            stage3_max_reuse_distance=ds.max_reuse_distance,
        )
        zero.pop("allgather_bucket_size")
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    if ds.offload_param:
        zero["offload_param"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    rendered = {
        "train_batch_size": layout.global_batch_size,
        "train_micro_batch_size_per_gpu": layout.micro_batch_size,
        "gradient_accumulation_steps": layout.gradient_accumulation_steps,
        "gradient_clipping": train.grad_clip,
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": True,
        "steps_per_print": ds.steps_per_print,
        "wall_clock_breakdown": False,
        # No check_grad_overflow: the trainer's own gradient norm skips a non-finite step on every stage
        # (DeepSpeed's check reaches only ZeRO-1/2 and costs one more all-reduce per step).
        "bf16": {"enabled": train.precision == "bf16", "check_grad_overflow": False},
        # loss_scale=0 is DeepSpeed's dynamic loss scaling; fp32 master weights are kept in every precision.
        "fp16": {"enabled": train.precision == "fp16", "loss_scale": ds.loss_scale,
                 "initial_scale_power": ds.initial_scale_power, "loss_scale_window": ds.loss_scale_window,
                 "hysteresis": ds.hysteresis, "min_loss_scale": ds.min_loss_scale},
    }
    if load_universal:
        rendered["checkpoint"] = {"load_universal": True}
    if train.precision == "bf16" and ds.zero_stage > 0:
        # fp32 master weights and fp32 gradient accumulation: bf16 has too few mantissa bits to sum into.
        rendered["data_types"] = {"grad_accum_dtype": "fp32"}
    return rendered
