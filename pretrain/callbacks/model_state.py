"""The first step's record of each launch: per-rank model-state bytes (max over ranks; measured by
pretrain/metrics/model_state.py), the engine's start-up facts (bucket sizes, the comm probe's fit); and every
step under fp16, the current loss scale."""

from __future__ import annotations

from pretrain.callbacks.base import Callback, TrainerView
from pretrain.metrics.model_state import max_over_ranks, model_state_bytes


class ModelStateReport(Callback):
    def __init__(self) -> None:
        self._reported = False

    def on_train_start(self, trainer: TrainerView) -> None:
        self._reported = False

    def on_step_end(self, trainer: TrainerView) -> dict | None:
        engine = trainer.engine
        metrics: dict = {}
        if engine.loss_scale is not None:
            metrics["loss_scale"] = engine.loss_scale
        if self._reported:
            return metrics
        # After the first step: FP16_Optimizer (ZeRO-0) creates the Adam moments lazily at its first step.
        self._reported = True
        state = max_over_ranks(model_state_bytes(engine.module, engine.optimizer), engine.device)
        metrics.update({f"state/{k}_per_rank": v for k, v in state.items()})
        metrics.update(engine.describe())
        return metrics
