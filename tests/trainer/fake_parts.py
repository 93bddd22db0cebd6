"""Fakes for the training loop's parts: a step engine without DeepSpeed, a loader of numbered samples and
collectives that count what the loop asks of them and can pretend another rank asked to stop. The loop, the
checkpoint store, the metrics file and the loss guard stay real."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import torch

from pretrain.checkpoint import CheckpointStore
from pretrain.checkpoint.resume_plan import plan_resume
from pretrain.checkpoint.store import ENGINE_TAG
from pretrain.config import PretrainConfig, compose_config, resolve_batch_layout, to_yaml
from pretrain.distributed.collectives import Collectives
from pretrain.engine import StepEngine
from pretrain.metrics import MetricsLogger
from pretrain.metrics.throughput import ThroughputMeter
from pretrain.stability import LossGuard
from pretrain.training import Trainer, TrainerParts
from pretrain.training.loop import STOP_VOTES
from pretrain.training.stop_signal import StopSignal

LOSS = 2.0


class NumberedLoader:
    """Micro batches whose tokens are the index of the first global sample they hold (one data-parallel rank)."""

    def __init__(self, micro_batch_size: int):
        self.micro_batch_size = micro_batch_size
        self.consumed_samples = 0

    def __iter__(self):
        while True:
            batch = {"input_ids": torch.full((self.micro_batch_size, 4), self.consumed_samples)}
            self.consumed_samples += self.micro_batch_size
            yield batch

    def state_dict(self) -> dict:
        return {"consumed_samples": self.consumed_samples}

    def load_state_dict(self, state: dict) -> None:
        self.consumed_samples = state["consumed_samples"]

    def describe(self, total_samples: int) -> str:
        return f"numbered samples, {total_samples} planned"


class FakeEngine:
    """A `StepEngine` whose "weights" are the number of applied steps. The loss is NaN for micro batches that
    start at a sample in `nan_samples`, the gradient non-finite for those in `inf_grad_samples`; `overflow_steps`
    are optimizer steps the engine itself refuses (as fp16 loss scaling does)."""

    def __init__(self, layout, nan_samples=(), inf_grad_samples=(), overflow_steps=()):
        self.device = torch.device("cpu")
        self.layout = layout
        self.module = torch.nn.Linear(2, 1)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=0.1)
        self.nan_samples, self.inf_grad_samples = set(nan_samples), set(inf_grad_samples)
        self.overflow_steps = set(overflow_steps)
        self.applied_steps = 0  # the weights' version
        self.schedule_steps = 0  # how often the LR schedule advanced
        self.seen_samples: list[int] = []  # first sample of every micro batch forwarded, in order
        self.step_calls: list[bool] = []  # the `skip` of every optimizer_step
        self.loads: list[tuple[str, bool]] = []
        self._grad_bad = False

    def forward(self, batch: dict) -> torch.Tensor:
        sample = int(batch["input_ids"][0, 0])
        self.seen_samples.append(sample)
        self._grad_bad |= sample in self.inf_grad_samples
        return torch.tensor(math.nan if sample in self.nan_samples else LOSS)

    def backward(self, loss: torch.Tensor) -> None:
        pass

    def local_grad_square_sum(self) -> torch.Tensor:
        bad, self._grad_bad = self._grad_bad, False
        return torch.tensor(math.inf if bad else 4.0, dtype=torch.float64)

    @property
    def learning_rate(self) -> float:
        return 0.1 / (1 + self.schedule_steps)

    @property
    def loss_scale(self) -> float | None:
        return None

    def optimizer_step(self, skip: bool) -> bool:
        self.step_calls.append(skip)
        self.schedule_steps += 1
        if skip or len(self.step_calls) in self.overflow_steps:
            return False
        self.applied_steps += 1
        return True

    def save(self, checkpoint_dir: Path) -> None:
        target = Path(checkpoint_dir) / ENGINE_TAG
        target.mkdir(parents=True, exist_ok=True)
        (target / "fake_engine.json").write_text(json.dumps({"applied": self.applied_steps,
                                                             "schedule": self.schedule_steps}))

    def load(self, checkpoint_dir: Path, universal: bool) -> None:
        self.loads.append((Path(checkpoint_dir).name, universal))
        saved = json.loads((Path(checkpoint_dir) / ENGINE_TAG / "fake_engine.json").read_text())
        self.applied_steps, self.schedule_steps = saved["applied"], saved["schedule"]

    def describe(self) -> dict:
        return {"fake/engine": 1}

    def close(self) -> None:
        pass


class CountingCollectives(Collectives):
    """One rank of a pretend group that counts every collective the loop takes. From the `other_rank_stops_at`-th
    step reduction on, another rank has received SIGTERM: its stop vote arrives in the step packet."""

    def __init__(self, other_rank_stops_at: int | None = None):
        super().__init__(torch.device("cpu"))
        self.calls: Counter[str] = Counter()
        self.other_rank_stops_at = other_rank_stops_at

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        self.calls["sum_"] += 1
        if self.other_rank_stops_at is not None and self.calls["sum_"] >= self.other_rank_stops_at:
            tensor[STOP_VOTES] += 1
        return tensor

    def any(self, flag: bool) -> bool:
        self.calls["any"] += 1
        return flag

    def all_gather_object(self, obj) -> list:
        self.calls["all_gather_object"] += 1
        return [obj]

    def broadcast_object(self, obj, src: int = 0):
        self.calls["broadcast_object"] += 1
        return obj

    def barrier(self) -> None:
        self.calls["barrier"] += 1


def loop_config(tmp_path: Path, *overrides: str) -> PretrainConfig:
    return compose_config([
        "model=tiny", "data.sources=[{name: zh, path: /unused}]", "train.micro_batch_size=2",
        "train.global_batch_size=4", "train.seq_len=4", f"logging.run_dir={tmp_path / 'run'}",
        "logging.wandb=false", "logging.tensorboard=false", f"train.checkpoint_dir={tmp_path / 'run' / 'checkpoints'}",
        "train.max_steps=6", "train.save_interval=2", *overrides])


def fake_trainer(config: PretrainConfig, engine: FakeEngine | None = None, collectives: Collectives | None = None,
                 callbacks=(), store: CheckpointStore | None = None) -> Trainer:
    """The loop with real store, metrics, guard and resume planning around a fake engine and loader."""
    train = config.train
    engine = engine or FakeEngine(resolve_batch_layout(train, 1))
    store = store or CheckpointStore(train.checkpoint_dir, train.keep_last, train.keep_every)
    parts = TrainerParts(
        engine=engine,
        loader=NumberedLoader(train.micro_batch_size),
        store=store,
        resume_plan=plan_resume(store, config, to_yaml(config), 0, 1),
        metrics=MetricsLogger(config.logging, 0),
        guard=LossGuard(train.spike_sigma, train.spike_min_history, train.max_bad_steps),
        throughput=ThroughputMeter(config.model, train.seq_len, 1, peak_tflops=1.0),
        collectives=collectives or Collectives(torch.device("cpu")),
        incidents_path=Path(config.logging.run_dir) / "incidents.jsonl",
        stop=StopSignal(install_handlers=False),
        callbacks=list(callbacks),
    )
    assert isinstance(engine, StepEngine)  # the fake keeps to the interface the loop is typed against
    return Trainer(config, 0, 1, parts)


def metrics_records(config: PretrainConfig) -> list[dict]:
    path = Path(config.logging.run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def incidents(config: PretrainConfig) -> list[dict]:
    path = Path(config.logging.run_dir) / "incidents.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
