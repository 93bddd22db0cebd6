"""Training stability: the loss guard, the gradient norm and the skip-step optimizers they drive, and the
incident log."""

from pretrain.stability.grad_norm import local_grad_square_sum
from pretrain.stability.incidents import append_incident
from pretrain.stability.loss_guard import LossGuard
from pretrain.stability.skip_step import SkipStepAdamW, SkipStepMixin, with_skip_step

__all__ = ["LossGuard", "SkipStepAdamW", "SkipStepMixin", "append_incident", "local_grad_square_sum",
           "with_skip_step"]
