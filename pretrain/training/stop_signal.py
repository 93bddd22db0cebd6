"""Preemption: SIGTERM / SIGUSR1 ask for a checkpoint and a clean exit (code 0) at the end of the current or next
step (the first whose statistics all-reduce carries the request)."""

from __future__ import annotations

import logging
import signal

log = logging.getLogger(__name__)


class StopSignal:
    """Ranks may receive the signal at different steps, so the loop agrees on it every step (`requested` rides
    in the step's statistics all-reduce, loop.py): every rank stops after the same step and joins the same
    collective save. A signal that lands after the step's reduction is acted on one step later."""

    def __init__(self, install_handlers: bool = True):
        self.requested = False
        if install_handlers:
            for sig in (signal.SIGTERM, signal.SIGUSR1):
                signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        log.warning("received signal %d: checkpointing at the end of this or the next step, then exiting", signum)
        self.requested = True
