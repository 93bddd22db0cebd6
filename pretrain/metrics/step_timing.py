"""This rank's own time per step, measured without a host sync, for the step statistics packet.

Two numbers per step:

- compute_s: the step's forward passes. Under data parallelism with ZeRO 0-2 a forward pass contains no
  collective, so no peer can hold it up: it is this rank's own speed (a throttled or failing GPU, a noisy
  neighbour on the host). Backward is not counted: DeepSpeed reduces gradients from backward hooks, so a fast
  rank's backward contains its wait for the slow one, and splitting the two needs a sync per bucket or kernel
  tracing (what CUPTI-based detectors do). Under ZeRO-3 the forward gathers parameters and so waits for peers
  too; the signal is then weaker.
- step_s: the whole step from one statistics reduction to the next (forward, backward with the gradient
  reduction, optimizer, the statistics all-reduce): step_s - compute_s is the part in which ranks communicate
  and wait for one another.

On CUDA the forward is timed with events and read a step late (the step's statistics sync has completed them),
so timing costs no synchronisation; on CPU the host clock is the device clock. The packet of step N therefore
carries step N-1's times (zero in a launch's first step).
"""

from __future__ import annotations

import time

import torch


class StepTimer:
    def __init__(self, device: torch.device):
        self._cuda = device.type == "cuda"
        self._forward_s = 0.0  # CPU: this step's forward time so far
        self._events: list[tuple] = []  # CUDA: this step's (start, end) forward events
        self._forward_started: float | object = 0.0
        self._last_sync: float | None = None  # host time the previous statistics reduction returned
        self._previous = (0.0, 0.0)  # (compute_s, step_s) of the last finished step

    def forward_started(self) -> None:
        if self._cuda:
            self._forward_started = torch.cuda.Event(enable_timing=True)
            self._forward_started.record()
        else:
            self._forward_started = time.perf_counter()

    def forward_ended(self) -> None:
        if self._cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self._events.append((self._forward_started, end))
        else:
            self._forward_s += time.perf_counter() - self._forward_started

    def previous_step(self) -> tuple[float, float]:
        """(compute_s, step_s) of the step before this one, for this step's packet."""
        return self._previous

    def reduced(self) -> None:
        """The step's statistics reduction returned (the host synced with the device): close the step."""
        now = time.perf_counter()
        if self._cuda:  # complete: recorded before the reduction the host just waited for
            compute = sum(start.elapsed_time(end) for start, end in self._events) / 1000.0
        else:
            compute = self._forward_s
        step = now - self._last_sync if self._last_sync is not None else 0.0
        # A launch's first step has no previous reduction: its period is unknown, and it would include start-up.
        self._previous = (compute, step) if self._last_sync is not None else (0.0, 0.0)
        self._last_sync = now
        self._forward_s, self._events = 0.0, []
