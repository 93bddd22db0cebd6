"""Keep a run's global batch when it resumes on another number of ranks (a node lost, a spare joined).

The global batch is part of the optimisation (lr schedule, noise scale, samples per step): a run that lost a
node must go on with the same one, only with more gradient accumulation per rank. A config that names
`train.global_batch_size` already says so (the batch layout raises accumulation on fewer ranks). One that
leaves it 0 means "micro batch x data-parallel size", which would shrink with the world: on resume it is
pinned to the checkpoint's global batch instead, in the config the engine, the loader and the next
checkpoint see. When no accumulation count fits (global batch not a multiple of micro batch x new ranks) the
resume is refused with one line, before any weights are read.
"""

from __future__ import annotations

import logging

from omegaconf import OmegaConf

from pretrain.config import ConfigError, PretrainConfig, resolve_batch_layout

log = logging.getLogger(__name__)

GLOBAL_BATCH_KEY = "train.global_batch_size"


def saved_global_batch(saved_yaml: str, saved_world_size: int) -> int:
    """The global batch the checkpoint was trained with (explicit, or micro batch x its world size)."""
    train = OmegaConf.create(saved_yaml).get("train", {})
    explicit = int(train.get("global_batch_size", 0) or 0)
    return explicit or int(train.get("micro_batch_size", 1)) * saved_world_size


def keep_global_batch(config: PretrainConfig, saved_global: int, world_size: int) -> None:
    """Pin an implied global batch to the saved one, then check a layout fits `world_size` ranks (or refuse)."""
    train = config.train
    current = train.global_batch_size or train.micro_batch_size * world_size
    if train.global_batch_size and current != saved_global:
        raise ConfigError(f"resume refused, config changed: {GLOBAL_BATCH_KEY}: {saved_global} -> {current}")
    if current != saved_global:
        log.info("keeping the checkpoint's global batch %d on %d rank(s) (train.global_batch_size was 0)",
                 saved_global, world_size)
        train.global_batch_size = saved_global
    if saved_global % (train.micro_batch_size * world_size):
        fits = [n for n in range(1, saved_global // train.micro_batch_size + 1)
                if saved_global % (train.micro_batch_size * n) == 0]
        raise ConfigError(
            f"no batch layout keeps the global batch {saved_global} on {world_size} rank(s): it is not a multiple "
            f"of train.micro_batch_size={train.micro_batch_size} x {world_size} — resume on one of {fits} ranks")
    layout = resolve_batch_layout(train, world_size)
    log.info("batch layout on %d rank(s): micro %d x accumulation %d = global %d", world_size,
             layout.micro_batch_size, layout.gradient_accumulation_steps, layout.global_batch_size)
