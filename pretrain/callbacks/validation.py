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
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from pretrain.callbacks.base import Callback

if TYPE_CHECKING:
    from pretrain.trainer import Trainer

IGNORE_INDEX = -100


class ValidationCallback(Callback):
    def __init__(self, interval: int, max_batches: int):
        self.interval = interval
        self.max_batches = max_batches

    def on_step_end(self, trainer: Trainer) -> dict | None:
        if self.interval <= 0 or trainer.state.step % self.interval:
            return None
        return evaluate_sources(trainer, self.max_batches)


@torch.no_grad()
def _loss_sum_and_tokens(trainer: Trainer, source: str, max_batches: int) -> torch.Tensor:
    """[Σ loss·tokens, Σ tokens] over this rank's share of the source's validation batches (fp64)."""
    engine, device = trainer.engine, trainer.engine.device
    masking = trainer.config.data.document_masking
    totals = torch.zeros(2, dtype=torch.float64)
    for batch in trainer.loader.validation_batches(source, max_batches):
        labels = batch["labels"].to(device)
        loss = engine(batch["input_ids"].to(device), labels=labels,
                      doc_ids=batch["doc_ids"].to(device) if masking else None)
        tokens = int((labels != IGNORE_INDEX).sum())
        totals += torch.tensor([float(loss) * tokens, tokens], dtype=torch.float64)
    return totals


def evaluate_sources(trainer: Trainer, max_batches: int) -> dict[str, float]:
    """Validation metrics for every source; a collective, call it on every rank."""
    names = [source.name for source in trainer.loader.sources]
    was_training = trainer.engine.training
    trainer.engine.eval()
    try:
        per_source = torch.stack([_loss_sum_and_tokens(trainer, name, max_batches) for name in names])
    finally:
        trainer.engine.train(was_training)
    if dist.is_available() and dist.is_initialized():
        per_source = per_source.to(trainer.engine.device)  # NCCL reduces device tensors only
        dist.all_reduce(per_source)
        per_source = per_source.cpu()
    metrics: dict[str, float] = {}
    for name, (loss_sum, tokens) in zip(names, per_source.tolist()):
        if tokens > 0:  # a source without held-out documents has nothing to report
            metrics.update(_loss_and_ppl(f"val/{name}", loss_sum / tokens))
    loss_sum, tokens = per_source.sum(dim=0).tolist()
    if tokens > 0:
        metrics.update(_loss_and_ppl("val", loss_sum / tokens))
    return metrics


def _loss_and_ppl(prefix: str, loss: float) -> dict[str, float]:
    return {f"{prefix}/loss": loss, f"{prefix}/ppl": math.exp(min(loss, 80.0))}  # cap: exp overflows past ~709
