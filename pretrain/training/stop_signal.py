"""Preemption: SIGTERM / SIGUSR1 ask for a checkpoint and a clean exit (code 0) after the current step."""

from __future__ import annotations

import logging
import signal

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


class StopSignal:
    """Ranks may receive the signal at different steps, so the decision is all-reduced each step: every
    rank stops after the same step and joins the same collective save."""

    def __init__(self):
        self._requested = False
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        log.warning("received signal %d: checkpointing after this step, then exiting", signum)
        self._requested = True

    def agreed(self, device) -> bool:
        flag = torch.tensor([1.0 if self._requested else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())
