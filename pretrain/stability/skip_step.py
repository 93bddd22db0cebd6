"""AdamW that can be told to skip its next update.

The loss guard decides *after* the forward pass that a step must not be applied (non-finite loss, loss spike),
but DeepSpeed owns the step: gradients are reduced inside backward and the optimizer is called from
`engine.step()`. Skipping inside the optimizer is the one place that works for every ZeRO stage: the
gradients are discarded by DeepSpeed as usual, the weights and Adam moments stay untouched, and the LR
schedule still advances with the step counter. (bf16/fp16 runs also skip on non-finite gradients through
DeepSpeed's own overflow check; `engine.was_step_applied()` reports both.)
"""

from __future__ import annotations

import torch


class SkipStepAdamW(torch.optim.AdamW):
    skip_requested: bool = False

    @torch.no_grad()
    def step(self, closure=None):
        if self.skip_requested:
            return None
        return super().step(closure)
