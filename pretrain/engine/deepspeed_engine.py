"""The step engine that trains: DeepSpeed's engine behind the `StepEngine` interface (step_engine.py).

This module and its siblings (`deepspeed_config.py` renders the JSON, `deepspeed_grad_norm.py` finds the
gradients inside DeepSpeed's optimizers, `deepspeed_checkpoint_io.py` routes DeepSpeed's checkpoint files through
our writer) are the training path's only door to DeepSpeed: the model is single-device code, the loop reads like
plain PyTorch, and checkpoints know DeepSpeed only as a directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import deepspeed
import torch
import torch.distributed as dist
from deepspeed.accelerator import get_accelerator
from deepspeed.ops.adam import DeepSpeedCPUAdam

from pretrain.checkpoint.optimizer_groups import repair_universal_load
from pretrain.checkpoint.shard_writer import ShardWriter
from pretrain.checkpoint.store import ENGINE_TAG
from pretrain.checkpoint.universal import UNIVERSAL_TAG, universal_dir
from pretrain.config import BatchLayout, ConfigError, PretrainConfig, resolve_batch_layout
from pretrain.data import batch_to_device
from pretrain.distributed import CommProfile, choose_bucket_sizes, run_comm_probe
from pretrain.distributed.collectives import Collectives
from pretrain.distributed.rank_zero import on_rank_zero
from pretrain.engine.deepspeed_checkpoint_io import install_shard_writer
from pretrain.engine.deepspeed_config import render_deepspeed_config
from pretrain.engine.deepspeed_grad_norm import fp16_loss_scale, local_grad_square_sum
from pretrain.finetune.init_weights import open_init_weights, verify_init_weights
from pretrain.finetune.lora import with_lora
from pretrain.model import BaichuanForCausalLM
from pretrain.optimizer import build_optimizer, lr_lambda

log = logging.getLogger(__name__)

# Lets `ds_to_universal` convert a checkpoint for a resume on another number of ranks or ZeRO stage.
UNIVERSAL_INFO = {"universal_checkpoint_info": {"universal_checkpoint_version": 0.2}}


def select_device_and_join_group(local_rank: int, timeout: timedelta | None = None) -> None:
    """Through DeepSpeed's accelerator (a no-op on CPU), then DeepSpeed's process-group setup (gloo or NCCL),
    with `timeout` for every collective (None: DeepSpeed's 10-minute default)."""
    get_accelerator().set_device(local_rank)
    deepspeed.init_distributed(verbose=False, **({"timeout": timeout} if timeout is not None else {}))


def rank_device(local_rank: int) -> torch.device:
    """The device DeepSpeed's accelerator gives local rank `local_rank` (cuda:N, or cpu)."""
    return torch.device(get_accelerator().device_name(local_rank))


def check_precision_supported(precision: str) -> None:
    """fp16 needs accelerator support (most CPUs lack fp16 kernels): fail with one line, not deep in DeepSpeed."""
    accelerator = get_accelerator()
    if precision == "fp16" and not accelerator.is_fp16_supported():
        raise ConfigError(f"train.precision=fp16 is not supported on this {accelerator.device_name()} device "
                          "— use train.precision=bf16 or fp32")


def weights_fit_problem(model: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> str | None:
    expected = {name for name, _ in model.named_parameters()}
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - set(model.state_dict()))  # persistent buffers are fine
    if missing or unexpected:
        return f"finetune.init_from does not fit this model: missing {missing[:3]}, unexpected {unexpected[:3]}"
    return None


def copy_initial_weights(model: torch.nn.Module, open_weights: Callable[[], Mapping], partitioned: bool) -> None:
    """Load full weights into a freshly built model, one parameter at a time from `open_weights()` (name → a
    tensor, or zero_to_fp32's lazy one: the bytes are read on `.contiguous()`). Unpartitioned, every rank holds
    the whole model anyway and reads it itself. Under ZeRO-3 only rank 0 reads (a 13B checkpoint is ~52 GB in
    fp32, once per node rank otherwise): it opens the weights and checks that they fit while the other ranks
    wait outside any collective (rank_zero.py); then each parameter is gathered in turn, written by rank 0 and
    scattered by DeepSpeed, so a collective waits for one parameter's read at most."""
    if not partitioned:
        weights = open_weights()
        problem = weights_fit_problem(model, weights)
        if problem:
            raise ConfigError(problem)
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(weights[name].contiguous())
        return
    weights: dict = {}

    def open_and_check() -> str | None:
        weights.update(open_weights())
        return weights_fit_problem(model, weights)

    problem = on_rank_zero("finetune_init_weights", open_and_check, dist.get_rank(),
                           what="rank 0 opening finetune.init_from")
    if problem:  # every rank fails together, before the first gather
        raise ConfigError(problem)
    for name, param in model.named_parameters():
        with deepspeed.zero.GatheredParameters([param], modifier_rank=0), torch.no_grad():
            if dist.get_rank() == 0:
                param.copy_(weights[name].contiguous())


class DeepSpeedStepEngine:
    """A `StepEngine` over `deepspeed.initialize`'s engine; build it with `DeepSpeedStepEngine.build`."""

    def __init__(self, engine, optimizer: torch.optim.Optimizer, layout: BatchLayout, ds_config: dict,
                 document_masking: bool, comm_profile: CommProfile | None = None, frozen_base: bool = False):
        self.engine = engine  # deepspeed.DeepSpeedEngine, for what the interface does not cover (tests, benches)
        self.optimizer = optimizer
        self.layout = layout
        self.ds_config = ds_config
        self.document_masking = document_masking
        self.comm_profile = comm_profile  # the start-up probe's fit when comm.probe=true
        # LoRA: checkpoints hold the adapters only; the frozen base comes from finetune.init_from at every build.
        self.frozen_base = frozen_base
        self.device = engine.device
        self.module = engine.module

    @classmethod
    def build(cls, config: PretrainConfig, world_size: int, load_universal: bool = False,
              checkpoint_writer: ShardWriter | None = None) -> DeepSpeedStepEngine:
        """The model (partitioned at construction under ZeRO-3), optimizer, schedule and DeepSpeed engine. With a
        `checkpoint_writer` (the checkpoint store's) every file DeepSpeed saves goes through it: digested while
        written, fsynced, in the background under `train.async_save` (deepspeed_checkpoint_io.py)."""
        layout = resolve_batch_layout(config.train, world_size)
        check_precision_supported(config.train.precision)
        # Every rank measures the collectives together (before DeepSpeed exists) and fits the same numbers.
        comm_profile = run_comm_probe(config.comm, config.train.precision) if config.comm.probe else None
        if config.finetune.init_from:  # every file of the initial checkpoint digested once, shared by the ranks
            verify_init_weights(config.finetune.init_from, Collectives(), config.train.verify_checksums)
        ds_config = render_deepspeed_config(config, layout, world_size, load_universal, comm_profile)
        # ZeRO-3 partitions each parameter as it is created, so a 13B model is never whole on one rank.
        construct = (deepspeed.zero.Init(config_dict_or_path=ds_config) if config.deepspeed.zero_stage == 3
                     else nullcontext())
        torch.manual_seed(config.train.seed)  # identical initial weights on every rank and every run
        with construct:
            model = BaichuanForCausalLM(config.model)
        if config.finetune.init_from:
            copy_initial_weights(model, lambda: open_init_weights(config.finetune.init_from),
                                 partitioned=config.deepspeed.zero_stage == 3)
        if config.finetune.lora.rank:
            model = with_lora(model, config.finetune.lora)
        cpu_adam = DeepSpeedCPUAdam if config.deepspeed.offload_optimizer else None
        optimizer = build_optimizer(model, config, cpu_adam=cpu_adam)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
        engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                               config=ds_config)
        if checkpoint_writer is not None:
            install_shard_writer(engine, checkpoint_writer)
        log.info("DeepSpeed ZeRO-%d, %s, batch %s, buckets %s", config.deepspeed.zero_stage,
                 config.train.precision, layout, choose_bucket_sizes(config, world_size, comm_profile).describe())
        return cls(engine, optimizer, layout, ds_config, config.data.document_masking, comm_profile,
                   frozen_base=bool(config.finetune.lora.rank))

    # ---- one optimizer step ----------------------------------------------------------------------------
    def forward(self, batch: dict) -> torch.Tensor:
        # Pinned, non_blocking copies and cu_seqlens from the host: queuing this batch never waits for the GPU.
        return self.engine(**batch_to_device(batch, self.device, self.document_masking))

    def backward(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss)
        # DeepSpeed counts micro steps in step(): every micro batch but the last only advances that counter
        # (the last one's step() is the optimizer step, after the loop has judged the gradients).
        if not self.engine.is_gradient_accumulation_boundary():
            self.engine.step()

    def local_grad_square_sum(self) -> torch.Tensor:
        return local_grad_square_sum(self.engine)

    @property
    def learning_rate(self) -> float:
        return self.engine.get_lr()[0]

    @property
    def loss_scale(self) -> float | None:
        return fp16_loss_scale(self.engine)

    @property
    def scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        return self.engine.lr_scheduler

    def optimizer_step(self, skip: bool) -> bool:
        # Our optimizer honours the veto inside DeepSpeed's step (pretrain/stability/skip_step.py), so the
        # wrapper's bookkeeping (fp16 scale window, micro-step counters) runs as on any step.
        self.optimizer.skip_requested = skip
        try:
            self.engine.step()
        finally:
            self.optimizer.skip_requested = False
        if not self.engine.was_step_applied():
            # DeepSpeed's own overflow check got there first (fp16 loss scaling; ZeRO-3, ZeRO-1 bf16 and fp32
            # ZeRO-1/2 on a non-finite norm) and left the LR schedule where it was. Ours follows the step count
            # on every skip, so every stage and precision schedules alike.
            self.engine.lr_scheduler.step()
            return False
        return not skip

    # ---- checkpoints -----------------------------------------------------------------------------------
    def save(self, checkpoint_dir: Path) -> None:
        self.engine.save_checkpoint(str(checkpoint_dir), tag=ENGINE_TAG, client_state=UNIVERSAL_INFO,
                                    save_latest=False, exclude_frozen_parameters=self.frozen_base)

    def load(self, checkpoint_dir: Path, universal: bool) -> None:
        # DeepSpeed reads this flag at every load, not only at initialisation: a rollback after a resume on a
        # new world size loads a checkpoint this world size wrote, in DeepSpeed's own layout.
        self.engine._config.load_universal_checkpoint = universal
        self.engine.load_checkpoint(str(checkpoint_dir), tag=UNIVERSAL_TAG if universal else ENGINE_TAG,
                                    load_optimizer_states=True, load_lr_scheduler_states=True,
                                    load_module_strict=not self.frozen_base)
        if universal:  # DeepSpeed's ZeRO-3 universal load flattens the parameter groups (see optimizer_groups)
            repair_universal_load(self.optimizer, universal_dir(checkpoint_dir))

    # ---- reporting and teardown ------------------------------------------------------------------------
    def describe(self) -> dict:
        zero = self.ds_config["zero_optimization"]
        facts = {f"buckets/{key}": zero[key] for key in
                 ("reduce_bucket_size", "allgather_bucket_size", "stage3_prefetch_bucket_size") if key in zero}
        if self.comm_profile is not None:
            facts.update(self.comm_profile.as_metrics())
        return facts

    def close(self) -> None:
        self.engine.destroy()
