"""Training stability: the loss guard, the skip-step optimizer it drives, and the incident log."""

from pretrain.stability.incidents import append_incident
from pretrain.stability.loss_guard import LossGuard
from pretrain.stability.skip_step import SkipStepAdamW

__all__ = ["LossGuard", "SkipStepAdamW", "append_incident"]
