"""The thin DeepSpeed adapter: our config in, a DeepSpeed engine out.

Everything DeepSpeed-specific that is not checkpoint I/O lives here, so the model stays single-device code and
the training loop reads like plain PyTorch (`loss = engine(**batch); engine.backward(loss); engine.step()`).
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch

from pretrain.config import BatchLayout, ConfigError, PretrainConfig, resolve_batch_layout
from pretrain.distributed import CommProfile, check_comm_config, choose_bucket_sizes, run_comm_probe
from pretrain.distributed.shm_buffers import remove_own_shm_buffer
from pretrain.model import BaichuanForCausalLM
from pretrain.stability import SkipStepAdamW, with_skip_step

log = logging.getLogger(__name__)


def init_distributed() -> tuple[int, int]:
    """Select this rank's device, then join (or, for a plain `python -m pretrain.train`, create) the process
    group; returns (rank, world).

    The device comes first because collectives run long before DeepSpeed's engine would select it (the resume
    broadcast, the comm probe): under NCCL a rank that has not called set_device puts its tensors on cuda:0,
    and DeepSpeed >= 0.17.3 binds the group to cuda:LOCAL_RANK, so ranks 1..N-1 fail. Through DeepSpeed's
    accelerator the same line runs on CPU (where it does nothing) and on other devices.
    """
    import deepspeed
    from deepspeed.accelerator import get_accelerator

    if "RANK" not in os.environ:  # single process without a launcher
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
    get_accelerator().set_device(int(os.environ.get("LOCAL_RANK", "0")))
    deepspeed.init_distributed(verbose=False)
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


@contextmanager
def distributed_session() -> Iterator[tuple[int, int]]:
    """`init_distributed()`, and destroy the process group on the way out (also after an error).

    Left to interpreter shutdown, the group's C++ threads (gloo's transport loop, c10d's work threads) are torn
    down in whatever order module teardown reaches them; torch asks callers to destroy the group explicitly. A
    2-rank CPU run in CI once died at that point with SIGABRT ("terminate called without an active exception").
    """
    import torch.distributed as dist

    remove_own_shm_buffer()  # left by a dead run on this port, if any
    rank, world_size = init_distributed()
    try:
        yield rank, world_size
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        remove_own_shm_buffer()  # DeepSpeed's CPU all-reduce buffer: 66 MiB of RAM nobody else frees


def free_port() -> int:
    """A local port nobody listens on right now (for a rendezvous that is not given one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    return [
        {"params": decay, "weight_decay": config.train.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: torch.nn.Module, config: PretrainConfig) -> torch.optim.Optimizer:
    train = config.train
    groups = parameter_groups(model, config)
    kwargs = dict(lr=train.lr, betas=(train.beta1, train.beta2), eps=train.adam_eps)
    # Every optimizer built here can be vetoed by the trainer after backward (pretrain/stability/skip_step.py).
    if config.deepspeed.offload_optimizer:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        return with_skip_step(DeepSpeedCPUAdam)(groups, adamw_mode=True, **kwargs)
    if torch.cuda.is_available():
        return SkipStepAdamW(groups, fused=True, **kwargs)
    return SkipStepAdamW(groups, foreach=True, **kwargs)


def check_precision_supported(precision: str) -> None:
    """fp16 needs accelerator support (most CPUs lack fp16 kernels): fail with one line, not deep in DeepSpeed."""
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    if precision == "fp16" and not accelerator.is_fp16_supported():
        raise ConfigError(f"train.precision=fp16 is not supported on this {accelerator.device_name()} device "
                          "— use train.precision=bf16 or fp32")


@dataclass
class EngineBundle:
    engine: object  # deepspeed.DeepSpeedEngine
    optimizer: torch.optim.Optimizer  # ours, inside DeepSpeed's wrapper
    layout: BatchLayout
    ds_config: dict
    comm_profile: CommProfile | None = None  # the start-up probe's fit when comm.probe=true


def build_engine(config: PretrainConfig, world_size: int, load_universal: bool = False) -> EngineBundle:
    """Build the model (partitioned at construction under ZeRO-3), optimizer, schedule and engine."""
    import deepspeed

    layout = resolve_batch_layout(config.train, world_size)
    check_comm_config(config.comm)
    check_precision_supported(config.train.precision)
    # Every rank measures the collectives together (before DeepSpeed exists) and fits the same numbers.
    comm_profile = run_comm_probe(config.comm, config.train.precision) if config.comm.probe else None
    ds_config = render_deepspeed_config(config, layout, world_size, load_universal, comm_profile)
    # ZeRO-3 partitions each parameter as it is created, so a 13B model is never whole on one rank.
    construct = deepspeed.zero.Init(config_dict_or_path=ds_config) if config.deepspeed.zero_stage == 3 else nullcontext()
    torch.manual_seed(config.train.seed)  # identical initial weights on every rank and every run
    with construct:
        model = BaichuanForCausalLM(config.model)
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config
    )
    log.info("DeepSpeed ZeRO-%d, %s, batch %s, buckets %s", config.deepspeed.zero_stage, config.train.precision,
             layout, choose_bucket_sizes(config, world_size, comm_profile).describe())
    return EngineBundle(engine=engine, optimizer=optimizer, layout=layout, ds_config=ds_config,
                        comm_profile=comm_profile)
