"""Training stability: the loss guard and the skip-step optimizers it drives (the gradient norm that feeds it is
the engine's: pretrain/engine/deepspeed_grad_norm.py; the incident log: pretrain/incidents.py)."""

from pretrain.stability.loss_guard import LossGuard
from pretrain.stability.skip_step import SkipStepAdamW, SkipStepMixin, with_skip_step

__all__ = ["LossGuard", "SkipStepAdamW", "SkipStepMixin", "with_skip_step"]
