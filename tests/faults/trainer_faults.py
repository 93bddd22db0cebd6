"""Fault injection for recovery tests and drills: a trainer plugin (pretrain/training/plugins.py), so nothing
of it is in the training path unless a test installs it.

    BAICHUAN_TRAINER_PLUGINS=tests.faults.trainer_faults:install      (PYTHONPATH must reach the repository)
    BAICHUAN_FAULT='{"signal": "SIGKILL", "rank": 1, "step": 5, "phase": "step", "once_file": "/tmp/fired"}'
    BAICHUAN_NAN_BATCHES='[3, 4]'

A fault is a real signal sent by the rank to itself: `phase` `step` fires after that optimizer step (after its
heartbeat), `save` inside that step's checkpoint save once the engine state is on disk but before the manifest
commits it (a torn checkpoint). `once_file` makes it fire once across restarts (created just before the
signal). NaN batches are global batches, 1-based — equal to the step number unless a rollback skipped data —
whose loss is made NaN on every rank.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from pretrain.callbacks import Callback

FAULT_ENV = "BAICHUAN_FAULT"
NAN_BATCHES_ENV = "BAICHUAN_NAN_BATCHES"
PLUGIN = "tests.faults.trainer_faults:install"


def environment(repo: Path, fault: dict | None = None, nan_batches: list[int] | None = None) -> dict[str, str]:
    """The environment a training command needs for this plugin."""
    env = {"BAICHUAN_TRAINER_PLUGINS": PLUGIN,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    if fault is not None:
        env[FAULT_ENV] = json.dumps(fault)
    if nan_batches:
        env[NAN_BATCHES_ENV] = json.dumps(nan_batches)
    return env


class StepClock(Callback):
    """The step just finished and the global batch the next step draws (1-based), seen from the loop."""

    def __init__(self, loader, global_batch_size: int):
        self.loader, self.global_batch_size = loader, global_batch_size
        self.step = 0
        self.next_batch = 1

    def _update(self, trainer) -> None:
        self.step = trainer.state.step
        # Read after the step (and after a resume); a rollback keeps the loader's position, so it holds then too.
        self.next_batch = self.loader.state_dict()["consumed_samples"] // self.global_batch_size + 1

    def on_train_start(self, trainer) -> None:
        self._update(trainer)

    def on_step_end(self, trainer) -> dict | None:
        self._update(trainer)
        return None


class SignalAtStep(Callback):
    def __init__(self, fault: dict, rank: int, clock: StepClock):
        self.fault, self.rank, self.clock = fault, rank, clock

    def fire(self, phase: str) -> None:
        fault = self.fault
        if fault.get("step") != self.clock.step or fault.get("rank", 0) != self.rank:
            return
        if fault.get("phase", "step") != phase:
            return
        once = fault.get("once_file")
        if once:
            if Path(once).exists():
                return
            Path(once).write_text(f"{phase} step {self.clock.step} rank {self.rank}\n")
        os.kill(os.getpid(), getattr(signal, fault.get("signal", "SIGKILL")))

    def on_step_end(self, trainer) -> dict | None:
        self.fire("step")
        return None


class EngineWrapper:
    """A step engine that forwards everything to `inner` except what a subclass overrides."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)


class NanLossEngine(EngineWrapper):
    def __init__(self, inner, clock: StepClock, batches: set[int]):
        super().__init__(inner)
        self.clock, self.batches = clock, batches

    def forward(self, batch):
        loss = self.inner.forward(batch)
        return loss * float("nan") if self.clock.next_batch in self.batches else loss


class SignalInsideSave(EngineWrapper):
    def __init__(self, inner, trigger: SignalAtStep):
        super().__init__(inner)
        self.trigger = trigger

    def save(self, checkpoint_dir):
        self.inner.save(checkpoint_dir)
        self.trigger.fire("save")


def install(parts, config, rank: int) -> None:
    clock = StepClock(parts.loader, parts.engine.layout.global_batch_size)
    parts.callbacks.insert(0, clock)
    nan_batches = set(json.loads(os.environ.get(NAN_BATCHES_ENV, "[]")))
    if nan_batches:
        parts.engine = NanLossEngine(parts.engine, clock, nan_batches)
    fault = json.loads(os.environ.get(FAULT_ENV, "null"))
    if fault:
        trigger = SignalAtStep(fault, rank, clock)
        parts.callbacks.insert(1, trigger)
        parts.engine = SignalInsideSave(parts.engine, trigger)
