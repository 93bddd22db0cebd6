"""The callback protocol the trainer calls; every method is optional."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pretrain.training import Trainer


class Callback:
    def on_train_start(self, trainer: Trainer) -> None:
        """After resume, before the first step (trainer.state.step is the resumed step)."""

    def on_step_end(self, trainer: Trainer) -> dict | None:
        """After each optimizer step; a returned dict is merged into this step's metrics record.

        Called on every rank (collectives are allowed, every rank takes the same branch)."""
        return None

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last step of this launch (also when stopping on a signal)."""
