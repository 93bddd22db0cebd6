"""Trainer callbacks: periodic work that is not the training step itself (validation, benchmark evals, ...).

Each concern lives in its own file and is switched on by config in `build_callbacks`; the loop only calls
`on_train_start`, `on_step_end` (whose returned dict is merged into that step's metrics record) and
`on_train_end`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pretrain.callbacks.base import Callback
from pretrain.callbacks.benchmark_eval import BenchmarkEvalCallback
from pretrain.callbacks.model_state import ModelStateReport
from pretrain.callbacks.validation import ValidationCallback

if TYPE_CHECKING:
    from pretrain.config import PretrainConfig

__all__ = ["Callback", "build_callbacks"]


def build_callbacks(config: PretrainConfig) -> list[Callback]:
    callbacks: list[Callback] = [ModelStateReport()]  # per-rank state bytes, buckets, comm fit, loss scale
    if config.train.eval_interval > 0:
        callbacks.append(ValidationCallback(config.train.eval_interval, config.train.eval_batches))
    if config.evaluation.interval > 0:
        callbacks.append(BenchmarkEvalCallback(config.evaluation, config.data.tokenizer))
    return callbacks
