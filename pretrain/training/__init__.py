"""The training loop (loop.py), its state (state.py), the assembly of its parts (build.py), preemption
(stop_signal.py) and plugins (plugins.py)."""

from pretrain.training.build import build_trainer
from pretrain.training.loop import Trainer, TrainerParts
from pretrain.training.state import StepResult, TrainerState

__all__ = ["StepResult", "Trainer", "TrainerParts", "TrainerState", "build_trainer"]
