"""Straggler detection from the per-rank step times that ride in the step statistics all-reduce.

Every rank sees the same all-reduced times, so every rank reaches the same verdict at the same step without a
collective of its own (rank 0 writes the incident). Over each window of `window_steps` steps each rank's
compute time (its forward passes: no peer can hold them up under data parallelism with ZeRO 0-2, so they measure
the rank itself — see pretrain/metrics/step_timing.py) is summed; a rank whose sum exceeds the median rank's by
more than `fraction` is slow in that window, and slow in `windows` consecutive windows it is a straggler. It is
reported once per streak; a window at normal speed ends the streak, so a rank that slows down again is reported
again. Consecutive windows rather than one slow step: a step's time jitters (a page fault, a GC pause, the data
loader) where a bad GPU, a throttled clock or a noisy neighbour stays slow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plumbing.user_error import ConfigError


@dataclass(frozen=True)
class Straggler:
    rank: int
    ratio: float  # its compute time / the median rank's, in the last window
    compute_s: float  # its compute time per step, last window
    median_s: float  # the median rank's, per step
    windows: int  # consecutive slow windows so far


@dataclass(frozen=True)
class WindowReport:
    """One finished window: what is logged as metrics, and the ranks that just became stragglers."""

    step: int
    median_compute_s: float  # per step
    slowest_rank: int
    slowest_ratio: float
    median_step_s: float  # the whole step (sync to sync), per step
    new_stragglers: list[Straggler] = field(default_factory=list)

    def metrics(self) -> dict:
        return {"straggler/slowest_rank": self.slowest_rank, "straggler/slowest_ratio": self.slowest_ratio,
                "rank_compute_s/median": self.median_compute_s, "rank_step_s/median": self.median_step_s,
                "straggler/count": len(self.new_stragglers)}


class StragglerDetector:
    def __init__(self, fraction: float = 0.2, window_steps: int = 20, windows: int = 3):
        if fraction < 0 or window_steps < 1 or windows < 1:
            raise ConfigError(f"train.straggler: fraction={fraction} must be >= 0 (0 = off), window_steps="
                              f"{window_steps} and windows={windows} must be >= 1")
        self.fraction, self.window_steps, self.windows = fraction, window_steps, windows
        self._compute = np.zeros(0)  # per rank, summed over the window
        self._step = np.zeros(0)
        self._steps_in_window = 0
        self._streak: dict[int, int] = {}  # rank -> consecutive slow windows

    @classmethod
    def from_config(cls, config) -> StragglerDetector:
        return cls(config.fraction, config.window_steps, config.windows)

    def observe(self, step: int, compute_s, step_s) -> WindowReport | None:
        """One step's per-rank times (index = rank); a report when this step closes a window."""
        compute_s, step_s = np.asarray(compute_s, dtype=np.float64), np.asarray(step_s, dtype=np.float64)
        if not compute_s.any():  # the first steps of a launch carry no timed step
            return None
        if self._compute.shape != compute_s.shape:  # first call, or a new world size after a resume
            self._compute, self._step, self._steps_in_window = np.zeros_like(compute_s), np.zeros_like(step_s), 0
            self._streak.clear()
        self._compute += compute_s
        self._step += step_s
        self._steps_in_window += 1
        if self._steps_in_window < self.window_steps:
            return None
        per_step = self._compute / self._steps_in_window
        median = float(np.median(per_step))
        median_step = float(np.median(self._step)) / self._steps_in_window
        self._compute, self._step, self._steps_in_window = np.zeros_like(per_step), np.zeros_like(per_step), 0
        ratios = per_step / median if median > 0 else np.ones_like(per_step)
        slowest = int(np.argmax(ratios))
        new = []
        slow_ranks = set(np.flatnonzero(ratios > 1.0 + self.fraction).tolist()) if self.fraction > 0 else set()
        # Only ranks with a streak are kept: at 1,024 ranks the bookkeeping stays as small as the slow set.
        self._streak = {rank: self._streak.get(rank, 0) + 1 for rank in slow_ranks}
        for rank in sorted(slow_ranks):
            if self._streak[rank] == self.windows:
                new.append(Straggler(rank, float(ratios[rank]), float(per_step[rank]), median, self.windows))
        return WindowReport(step, median, slowest, float(ratios[slowest]), median_step, new)
