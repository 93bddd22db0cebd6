"""Fault injection for recovery drills and tests: a real signal sent to a real rank at a chosen point.

Set `BAICHUAN_FAULT` to JSON, e.g.

    {"signal": "SIGKILL", "rank": 1, "step": 5, "phase": "step", "once_file": "/tmp/fired"}

`phase` is `step` (after that optimizer step) or `save` (inside the checkpoint save of that step, after the
engine state is on disk but before the manifest commits it — a torn checkpoint). `once_file` makes the fault
fire a single time across restarts: it is created just before the signal is sent. Unset, this costs one
dictionary lookup per step.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

FAULT_ENV = "BAICHUAN_FAULT"


def maybe_inject(step: int, rank: int, phase: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    fault = json.loads(spec)
    if fault.get("step") != step or fault.get("rank", 0) != rank or fault.get("phase", "step") != phase:
        return
    once = fault.get("once_file")
    if once:
        if Path(once).exists():
            return
        Path(once).write_text(f"{phase} step {step} rank {rank}\n")
    os.kill(os.getpid(), getattr(signal, fault.get("signal", "SIGKILL")))
