"""The training checkpoint store: format, atomic save, verified resume. Reading a checkpoint's model weights
(for inference, export, evaluation or a fine-tune's init) is pretrain/weights'."""

from __future__ import annotations

from pretrain.checkpoint.store import (
    ENGINE_TAG,
    CheckpointNotFound,
    CheckpointRef,
    CheckpointStore,
    locate,
    read_rng_state,
    read_saved_config,
    read_trainer_state,
)

__all__ = [
    "ENGINE_TAG",
    "CheckpointNotFound",
    "CheckpointRef",
    "CheckpointStore",
    "locate",
    "read_rng_state",
    "read_saved_config",
    "read_trainer_state",
]
