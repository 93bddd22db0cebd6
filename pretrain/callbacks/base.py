"""The callback protocol the trainer calls (every method is optional), and the part of the trainer a callback
sees: `TrainerView`, not the trainer itself, so callbacks depend on four names and the trainer (which builds
them) on this module, never the other way round."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pretrain.config import PretrainConfig
    from pretrain.data import PretrainDataLoader
    from pretrain.engine.step_engine import StepEngine


class StepCount(Protocol):
    step: int  # optimizer steps taken (the resumed step inside on_train_start)


class TrainerView(Protocol):
    """What callbacks read: the step, the engine (its forward, module, device, loss scale), the loader (held-out
    batches, the sources' languages) and the config. pretrain.training.Trainer provides it."""

    state: StepCount
    engine: StepEngine
    loader: PretrainDataLoader
    config: PretrainConfig


class Callback:
    def on_train_start(self, trainer: TrainerView) -> None:
        """After resume, before the first step (trainer.state.step is the resumed step)."""

    def on_step_end(self, trainer: TrainerView) -> dict | None:
        """After each optimizer step; a returned dict is merged into this step's metrics record.

        Called on every rank (collectives are allowed, every rank takes the same branch)."""
        return None

    def on_train_end(self, trainer: TrainerView) -> None:
        """After the last step of this launch (also when stopping on a signal)."""
