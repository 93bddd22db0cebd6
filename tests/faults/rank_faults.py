"""Faults of one rank only, for the localization tests: a trainer plugin (pretrain/training/plugins.py).

    BAICHUAN_TRAINER_PLUGINS=tests.faults.rank_faults:install     (PYTHONPATH must reach the repository)
    BAICHUAN_RANK_FAULTS='{"rank": 1, "slow_forward_s": 0.05, "nan_loss_steps": [6], "hang_forward_step": 9,
                           "once_file": "/tmp/hung"}'

`slow_forward_s` makes every forward pass of that rank take that much longer (a sleep: a slow GPU, a throttled
clock, a noisy neighbour, deterministically); `nan_loss_steps` (1-based optimizer steps of this launch) make that
rank's own loss NaN in those steps while every other rank's stays finite; `hang_forward_step` blocks that rank
inside the forward pass of that step (a live process that stops making progress: its peers wait for it in the
next collective) — once across restarts when `once_file` is given.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.faults.trainer_faults import EngineWrapper

RANK_FAULTS_ENV = "BAICHUAN_RANK_FAULTS"
PLUGIN = "tests.faults.rank_faults:install"


class FaultyRankEngine(EngineWrapper):
    def __init__(self, inner, slow_forward_s: float, nan_loss_steps: set[int], hang_step: int | None = None,
                 once_file: str | None = None):
        super().__init__(inner)
        self.slow_forward_s, self.nan_loss_steps = slow_forward_s, nan_loss_steps
        self.hang_step, self.once_file = hang_step, once_file
        self.steps = 0  # optimizer steps taken (the loop's step count, without a resume offset)

    def forward(self, batch):
        if self.slow_forward_s:
            time.sleep(self.slow_forward_s)
        if self.hang_step == self.steps + 1 and not (self.once_file and Path(self.once_file).exists()):
            if self.once_file:
                Path(self.once_file).write_text("hung\n")
            while True:
                time.sleep(3600)
        loss = self.inner.forward(batch)
        return loss * float("nan") if self.steps + 1 in self.nan_loss_steps else loss

    def optimizer_step(self, skip: bool) -> bool:
        self.steps += 1
        return self.inner.optimizer_step(skip)


def install(parts, config, rank: int) -> None:
    spec = json.loads(os.environ.get(RANK_FAULTS_ENV, "null")) or {}
    if spec.get("rank") == rank:
        parts.engine = FaultyRankEngine(parts.engine, float(spec.get("slow_forward_s", 0.0)),
                                        set(spec.get("nan_loss_steps", [])), spec.get("hang_forward_step"),
                                        spec.get("once_file"))
