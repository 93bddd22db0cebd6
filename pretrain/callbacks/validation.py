"""Held-out loss and perplexity per data source, every `train.eval_interval` steps.

Each rank evaluates its share of the same held-out global batches (`PretrainDataLoader.validation_batches`);
token-weighted loss sums and token counts are all-reduced, so every rank computes identical numbers:

    val/<source>/loss = Σ_batches loss_b · tokens_b / Σ_batches tokens_b      (over all ranks)
    val/<source>/ppl  = exp(val/<source>/loss)

plus `val/loss` / `val/ppl` over all sources together. Under ZeRO-3 the forward pass gathers parameters like
a training forward does, which is why every rank must take part.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.distributed as dist

from pretrain.callbacks.base import Callback, TrainerView
from pretrain.evaluation.perplexity import held_out_losses


class ValidationCallback(Callback):
    def __init__(self, interval: int, max_batches: int):
        self.interval = interval
        self.max_batches = max_batches

    def on_step_end(self, trainer: TrainerView) -> dict | None:
        if self.interval <= 0 or trainer.state.step % self.interval:
            return None
        return evaluate_sources(trainer, self.max_batches)


def device_all_reduce(device) -> Callable[[torch.Tensor], torch.Tensor]:
    """Sum a small CPU tensor over ranks (NCCL reduces device tensors only, so it travels via `device`)."""

    def reduce(totals: torch.Tensor) -> torch.Tensor:
        if not (dist.is_available() and dist.is_initialized()):
            return totals
        totals = totals.to(device)
        dist.all_reduce(totals)
        return totals.cpu()

    return reduce


def evaluate_sources(trainer: TrainerView, max_batches: int) -> dict[str, float]:
    """Validation metrics for every source; a collective, call it on every rank."""
    module = trainer.engine.module
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():  # the engine's forward: the training step's device transfer and document masking
            results = held_out_losses(trainer.engine.forward, trainer.loader, max_batches,
                                      device_all_reduce(trainer.engine.device))
    finally:
        module.train(was_training)
    metrics: dict[str, float] = {}
    for result in results:  # a source without held-out documents has nothing to report
        metrics.update(_loss_and_ppl(f"val/{result.name}", result.loss))
    tokens = sum(r.tokens for r in results)
    if tokens:
        metrics.update(_loss_and_ppl("val", sum(r.loss * r.tokens for r in results) / tokens))
    return metrics


def _loss_and_ppl(prefix: str, loss: float) -> dict[str, float]:
    return {f"{prefix}/loss": loss, f"{prefix}/ppl": math.exp(min(loss, 80.0))}  # cap: exp overflows past ~709
