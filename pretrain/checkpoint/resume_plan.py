"""What a run resumes from, decided before the engine is built.

The newest checkpoint whose manifest verifies is taken (`train.resume=auto`), or the one named. The saved
config is diffed against the new one and changes outside the allow-list are refused with the diff shown. If
the checkpoint was written by another number of ranks it is converted once to DeepSpeed's universal format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch.distributed as dist

from pretrain.checkpoint import CheckpointRef, CheckpointStore, read_saved_config, read_trainer_state
from pretrain.checkpoint.config_diff import disallowed_changes
from pretrain.checkpoint.universal import convert_to_universal
from pretrain.config import ConfigError, PretrainConfig

log = logging.getLogger(__name__)


@dataclass
class TrainerState:
    """Everything besides the engine that a resume needs; saved as JSON in every checkpoint."""

    step: int = 0
    consumed_tokens: int = 0
    data: dict = field(default_factory=dict)
    loss_window: list = field(default_factory=list)
    world_size: int = 1
    zero_stage: int = 0


@dataclass(frozen=True)
class ResumePlan:
    checkpoint: CheckpointRef | None
    universal: bool = False


def plan_resume(store: CheckpointStore, config: PretrainConfig, config_yaml: str, rank: int,
                world_size: int) -> ResumePlan:
    # Rank 0 verifies (checksums can be slow) and tells the others, so all ranks load the same checkpoint.
    choice = [store.resolve(config.train.resume)] if rank == 0 else [None]
    if dist.is_initialized() and world_size > 1:
        dist.broadcast_object_list(choice, src=0)
    ref = choice[0]
    if ref is None:
        return ResumePlan(None)
    refused = disallowed_changes(read_saved_config(ref.path), config_yaml)
    if refused:
        raise ConfigError(f"resume from {ref.path} refused, config changed: {'; '.join(refused)}")
    saved = read_trainer_state(ref.path)
    if saved["world_size"] == world_size and saved["zero_stage"] == config.deepspeed.zero_stage:
        return ResumePlan(ref)
    if rank == 0:
        log.info("checkpoint written by %d ranks (ZeRO-%d), resuming on %d (ZeRO-%d)", saved["world_size"],
                 saved["zero_stage"], world_size, config.deepspeed.zero_stage)
        convert_to_universal(ref.path)
    if dist.is_initialized():
        dist.barrier()
    return ResumePlan(ref, universal=True)
