"""What DeepSpeedStepEngine asks of DeepSpeed's engine, call by call, against a recording stand-in (the real
engine runs in the 2-rank tests beside this one). These are the promises the loop relies on: the micro-step
counter advances between micro batches, the veto reaches our optimizer only during the boundary step, the LR
schedule follows every skipped step, and checkpoints carry what universal conversion needs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pretrain.checkpoint.store import ENGINE_TAG
from pretrain.checkpoint.universal import UNIVERSAL_TAG
from pretrain.config import BatchLayout
from pretrain.engine import StepEngine
from pretrain.engine.deepspeed_engine import DeepSpeedStepEngine


class RecordingDeepSpeed:
    """The parts of deepspeed.DeepSpeedEngine the adapter touches."""

    def __init__(self, gas: int, optimizer, applies: bool = True):
        self.device, self.module = torch.device("cpu"), torch.nn.Linear(2, 1)
        self.gas, self.micro_steps, self.optimizer, self.applies = gas, 0, optimizer, applies
        self.calls: list = []
        self._config = SimpleNamespace(load_universal_checkpoint=True)  # built for a universal resume
        self.lr_scheduler = SimpleNamespace(step=lambda: self.calls.append("scheduler.step"))

    def fp16_enabled(self) -> bool:
        return False

    def get_lr(self) -> list[float]:
        return [3e-4]

    def is_gradient_accumulation_boundary(self) -> bool:
        return (self.micro_steps + 1) % self.gas == 0

    def backward(self, loss):
        self.calls.append("backward")

    def step(self):
        boundary = self.is_gradient_accumulation_boundary()
        self.calls.append(("step", boundary, self.optimizer.skip_requested))
        self.micro_steps += 1

    def was_step_applied(self) -> bool:
        return self.applies

    def save_checkpoint(self, save_dir, tag, client_state, save_latest, exclude_frozen_parameters):
        self.calls.append(("save", save_dir, tag, client_state, save_latest, exclude_frozen_parameters))

    def load_checkpoint(self, load_dir, tag, **kwargs):
        self.calls.append(("load", load_dir, tag, self._config.load_universal_checkpoint, kwargs))


def adapter(gas: int = 3, applies: bool = True):
    optimizer = SimpleNamespace(skip_requested=False)
    raw = RecordingDeepSpeed(gas, optimizer, applies)
    return DeepSpeedStepEngine(raw, optimizer, BatchLayout(2, gas, 1), {"zero_optimization": {}}, True), raw


def test_it_is_a_step_engine():
    engine = adapter()[0]
    assert isinstance(engine, StepEngine)
    assert engine.learning_rate == 3e-4 and engine.loss_scale is None


@pytest.mark.parametrize("skip", [False, True])
def test_micro_steps_advance_between_micro_batches_and_the_veto_reaches_only_the_boundary_step(skip):
    engine, raw = adapter(gas=3)
    for _ in range(3):
        engine.backward(torch.tensor(1.0))
    applied = engine.optimizer_step(skip=skip)
    assert raw.calls == ["backward", ("step", False, False), "backward", ("step", False, False), "backward",
                         ("step", True, skip)]
    assert raw.optimizer.skip_requested is False  # reset after the step, also for the next one
    assert applied is not skip


def test_a_step_deepspeed_itself_refused_advances_the_schedule_and_is_not_applied():
    engine, raw = adapter(gas=1, applies=False)
    engine.backward(torch.tensor(1.0))
    assert engine.optimizer_step(skip=False) is False
    assert raw.calls[-1] == "scheduler.step"


def test_save_writes_under_the_engine_tag_with_universal_info_and_no_deepspeed_latest(tmp_path):
    engine, raw = adapter()
    engine.save(tmp_path)
    [(_, save_dir, tag, client_state, save_latest, exclude_frozen)] = raw.calls
    assert (save_dir, tag, save_latest) == (str(tmp_path), ENGINE_TAG, False)  # our `latest` moves after commit
    assert exclude_frozen is False  # a full model saves everything; LoRA below
    assert client_state["universal_checkpoint_info"]["universal_checkpoint_version"] == 0.2


def test_a_plain_load_after_a_universal_resume_is_not_read_as_universal(tmp_path):
    """A rollback after resuming on a new world size loads a checkpoint this world size wrote."""
    engine, raw = adapter()
    engine.load(tmp_path, universal=False)
    [(_, load_dir, tag, universal_flag, kwargs)] = raw.calls
    assert (load_dir, tag, universal_flag) == (str(tmp_path), ENGINE_TAG, False)
    assert kwargs == {"load_optimizer_states": True, "load_lr_scheduler_states": True, "load_module_strict": True}


def test_lora_saves_only_trainable_tensors_and_loads_them_onto_the_rebuilt_base(tmp_path):
    """The frozen base is rebuilt from finetune.init_from at every launch; the checkpoint holds the adapters."""
    engine, raw = adapter()
    engine.frozen_base = True
    engine.save(tmp_path)
    engine.load(tmp_path, universal=False)
    assert raw.calls[0][-1] is True and raw.calls[1][-1]["load_module_strict"] is False


def test_a_universal_load_reads_the_converted_directory(tmp_path, monkeypatch):
    repaired = []
    monkeypatch.setattr("pretrain.engine.deepspeed_engine.repair_universal_load",
                        lambda optimizer, path: repaired.append(path))
    engine, raw = adapter()
    engine.load(tmp_path, universal=True)
    assert raw.calls[0][2:4] == (UNIVERSAL_TAG, True) and repaired == [tmp_path / UNIVERSAL_TAG]
