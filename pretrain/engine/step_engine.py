"""The step engine: everything the training loop asks of whatever runs the model across ranks.

The loop (`pretrain/training/loop.py`) decides *whether* a step is applied, *when* to save, roll back or stop;
a step engine does the work: forward and backward over micro batches, the optimizer step (or its veto), the
learning rate, the gradient norm, and the engine's own state in a checkpoint. `DeepSpeedStepEngine`
(`deepspeed_engine.py`) is the one implementation that trains; `tests/trainer/fake_engine.py` is one without
DeepSpeed, so the loop's behaviour is unit-tested in milliseconds.

One optimizer step is `gradient_accumulation_steps` × (`forward`, `backward`), then `local_grad_square_sum`,
then `optimizer_step(skip)` — in that order on every rank.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from pretrain.config import BatchLayout


@runtime_checkable
class StepEngine(Protocol):
    device: torch.device  # where this rank's model runs; collectives on device tensors travel via it
    module: torch.nn.Module  # the model (its parameters are partitions under ZeRO-3)
    optimizer: torch.optim.Optimizer  # ours, the one a wrapper (ZeRO, loss scaler) updates through
    layout: BatchLayout  # micro batch × accumulation × data-parallel size

    def forward(self, batch: dict) -> torch.Tensor:
        """The loss of one loader micro batch (moved to `device` here, without waiting for the device)."""

    def backward(self, loss: torch.Tensor) -> None:
        """Accumulate this micro batch's gradients (reduced across ranks when the step's last one arrives)."""

    def local_grad_square_sum(self) -> torch.Tensor:
        """After the step's last backward: the float64 sum of squares of the gradient elements this rank owns,
        unclipped and unscaled. Summed over ranks it is the squared global norm."""

    @property
    def learning_rate(self) -> float:
        """The rate the next `optimizer_step` applies."""

    @property
    def loss_scale(self) -> float | None:
        """The dynamic fp16 loss scale, None in bf16/fp32."""

    def optimizer_step(self, skip: bool) -> bool:
        """Apply the accumulated update, or not when `skip`; True when the weights changed. The learning-rate
        schedule advances either way, so it always follows the step count."""

    def save(self, checkpoint_dir: Path) -> None:
        """Write this rank's share of the engine state into `checkpoint_dir` (collective), through the checkpoint
        store's ShardWriter when the engine was built with one (digested while written; in the background under
        `train.async_save`, so the files may still be in flight when this returns — the store commits them)."""

    def load(self, checkpoint_dir: Path, universal: bool) -> None:
        """Read the engine state back; `universal` when it was written by another world size or ZeRO stage
        and converted (pretrain/checkpoint/universal.py)."""

    def describe(self) -> dict:
        """Static facts for the first metrics record (bucket sizes, the comm probe's fit)."""

    def close(self) -> None:
        """Release what the engine registered globally (a later engine in the same process starts clean)."""
