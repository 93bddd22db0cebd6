"""The training loop (loop.py), its state (state.py), the assembly of its parts (build.py), preemption
(stop_signal.py) and plugins (plugins.py)."""

from pretrain.training.loop import Trainer, TrainerParts
from pretrain.training.state import StepResult, TrainerState

__all__ = ["StepResult", "Trainer", "TrainerParts", "TrainerState", "build_trainer"]


def build_trainer(config, rank: int, world_size: int) -> Trainer:
    # Imported on use: building imports the data loader and the engine, which a test of the loop does not need.
    from pretrain.training.build import build_trainer as build

    return build(config, rank, world_size)
