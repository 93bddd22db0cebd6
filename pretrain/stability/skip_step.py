"""Optimizers that can be told to skip their next update.

The trainer decides *before* `engine.step()` that a step must not be applied (non-finite loss, loss spike,
non-finite gradient norm), but DeepSpeed owns the step: gradients are reduced inside backward and the optimizer
is called from `engine.step()`. Skipping inside the optimizer DeepSpeed wraps is the one place that works for
every ZeRO stage, precision and offload setting: DeepSpeed discards the gradients as usual, the master weights
and optimizer moments stay untouched (the low-precision weights are copied back from the unchanged masters),
and the trainer keeps the LR schedule on the step count. Whatever optimizer the engine builds (torch AdamW,
DeepSpeedCPUAdam for offload) gets the same veto through `with_skip_step`.
"""

from __future__ import annotations

import functools

import torch


class SkipStepMixin:
    """Put before an optimizer class: `step()` does nothing while `skip_requested` is set. Under ZeRO-3
    DeepSpeed calls `step()` once per parameter sub-group; each call is skipped."""

    skip_requested: bool = False

    def step(self, *args, **kwargs):
        if self.skip_requested:
            return None
        return super().step(*args, **kwargs)


@functools.cache
def with_skip_step(optimizer_class: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """A subclass of `optimizer_class` with the skip veto (a subclass, so DeepSpeed's isinstance checks for
    DeepSpeedCPUAdam still hold)."""
    return type(f"SkipStep{optimizer_class.__name__}", (SkipStepMixin, optimizer_class), {})


SkipStepAdamW = with_skip_step(torch.optim.AdamW)
