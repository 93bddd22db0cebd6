"""Which checkpoint a run loads, and how, decided before the engine is built.

The newest checkpoint whose manifest verifies on every rank is taken (`train.resume=auto`), or the one named. The saved
config is diffed against the new one and changes outside the allow-list are refused with the diff shown. A
checkpoint written by another number of ranks or ZeRO stage is converted once to DeepSpeed's universal format
(the engine must know that at initialisation), by rank 0 while the others poll for the outcome outside any
collective, keeping the checkpoint's global batch (checkpoint/global_batch.py: more gradient accumulation on
fewer ranks, or a one-line refusal). A loss-guard rollback asks the same question of an older checkpoint (`load_plan`), which after such
a resume may still be one the old world size wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch.distributed as dist

from pretrain.checkpoint.config_diff import disallowed_changes
from pretrain.checkpoint.global_batch import GLOBAL_BATCH_KEY, keep_global_batch, saved_global_batch
from pretrain.checkpoint.store import CheckpointRef, CheckpointStore, read_saved_config, read_trainer_state
from pretrain.checkpoint.universal import convert_to_universal
from pretrain.config import ConfigError, PretrainConfig
from pretrain.distributed.collectives import Collectives
from pretrain.distributed.rank_zero import on_rank_zero

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumePlan:
    checkpoint: CheckpointRef | None
    universal: bool = False  # load the converted universal checkpoint (written by another layout)


def plan_resume(store: CheckpointStore, config: PretrainConfig, config_yaml: str, rank: int,
                world_size: int, collectives: Collectives | None = None) -> ResumePlan:
    # Every rank verifies the files it will load, in parallel, and the ranks agree on the verdict (store.verify),
    # so all ranks load the same checkpoint — or all skip a corrupt one together.
    if collectives is None:
        collectives = Collectives() if dist.is_initialized() and world_size > 1 else Collectives.solo_process()
    ref = store.resolve(config.train.resume, collectives)
    if ref is None:
        return ResumePlan(None)
    saved_yaml = read_saved_config(ref.path)
    # The global batch is judged by its effective value (0 means micro batch x world size): keep_global_batch.
    refused = [line for line in disallowed_changes(saved_yaml, config_yaml) if not line.startswith(GLOBAL_BATCH_KEY + ":")]
    if refused:
        raise ConfigError(f"resume from {ref.path} refused, config changed: {'; '.join(refused)}")
    keep_global_batch(config, saved_global_batch(saved_yaml, read_trainer_state(ref.path)["world_size"]), world_size)
    return load_plan(ref, config.deepspeed.zero_stage, rank, world_size)


def load_plan(ref: CheckpointRef, zero_stage: int, rank: int, world_size: int, store=None,
              poll_s: float = 1.0) -> ResumePlan:
    """Load `ref` as written, or convert it to universal first (every rank calls it).

    The conversion (minutes to hours at 7B/13B) runs on rank 0 while the other ranks poll for its outcome
    outside any collective (distributed/rank_zero.py): in a barrier they would pass the process group's timeout,
    and the restart would start the conversion over. A failed conversion fails every rank with rank 0's reason.
    """
    saved = read_trainer_state(ref.path)
    if saved["world_size"] == world_size and saved["zero_stage"] == zero_stage:
        return ResumePlan(ref)

    def convert() -> None:
        log.info("checkpoint %s written by %d ranks (ZeRO-%d), loading on %d (ZeRO-%d)", ref.path.name,
                 saved["world_size"], saved["zero_stage"], world_size, zero_stage)
        convert_to_universal(ref.path)

    on_rank_zero(f"universal_conversion:{ref.path}", convert, rank, store, poll_s,
                 what=f"the universal conversion of {ref.path}")
    return ResumePlan(ref, universal=True)
