"""The training loop. Concerns with their own state live in components (engine, checkpoint store, data
loader, metrics, heartbeat, stop signal); the loop only orders them.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from pretrain.checkpoint import CheckpointStore, read_rng_state, read_saved_config, read_trainer_state
from pretrain.checkpoint.config_diff import disallowed_changes
from pretrain.checkpoint.rng import restore_rng_state
from pretrain.config import ConfigError, PretrainConfig, to_yaml
from pretrain.data import PretrainDataLoader
from pretrain.engine import build_engine
from pretrain.heartbeat import Heartbeat
from pretrain.metrics import MetricsLogger
from pretrain.metrics.throughput import ThroughputMeter

log = logging.getLogger(__name__)


@dataclass
class TrainerState:
    """Everything besides the engine that a resume needs; saved as JSON in every checkpoint."""

    step: int = 0
    consumed_tokens: int = 0
    data: dict = field(default_factory=dict)
    loss_window: list = field(default_factory=list)
    world_size: int = 1
    zero_stage: int = 0


class StopSignal:
    """SIGTERM / SIGUSR1 (preemption) ask for a checkpoint and a clean exit after the current step.

    Ranks may receive the signal at different steps, so the decision is all-reduced: every rank stops after
    the same step and joins the same collective save.
    """

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


class Trainer:
    def __init__(self, config: PretrainConfig, rank: int, world_size: int):
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self.bundle = build_engine(config, world_size)
        self.engine = self.bundle.engine
        self.layout = self.bundle.layout
        self.loader = PretrainDataLoader(
            config.data,
            seq_len=config.train.seq_len,
            micro_batch_size=config.train.micro_batch_size,
            dp_rank=rank,
            dp_size=world_size,
        )
        self.store = CheckpointStore(
            config.train.checkpoint_dir, config.train.keep_last, config.train.keep_every,
            checksums=config.train.verify_checksums,
        )
        self.state = TrainerState(world_size=world_size, zero_stage=config.deepspeed.zero_stage)
        self.metrics = MetricsLogger(config.logging, rank, run_config=asdict(config))
        self.heartbeat = Heartbeat.from_env()
        self.stop = StopSignal()
        self.throughput = ThroughputMeter(config.model, config.train.seq_len, world_size)
        self.config_yaml = to_yaml(config)

    # ---- resume ----------------------------------------------------------------------------------------
    def resume(self) -> None:
        ref = self.store.resolve(self.config.train.resume)
        if ref is None:
            if self.rank == 0:
                log.info("starting from scratch (train.resume=%s)", self.config.train.resume)
            return
        refused = disallowed_changes(read_saved_config(ref.path), self.config_yaml)
        if refused:
            raise ConfigError(f"resume from {ref.path} refused, config changed: {'; '.join(refused)}")
        saved = read_trainer_state(ref.path)
        if saved["world_size"] != self.world_size:
            raise ConfigError(
                f"checkpoint {ref.path} was written by {saved['world_size']} ranks, this run has "
                f"{self.world_size}; convert it with deepspeed.checkpoint.ds_to_universal first"
            )
        self.engine.load_checkpoint(str(ref.path), tag="deepspeed", load_optimizer_states=True,
                                    load_lr_scheduler_states=True)
        self.state = TrainerState(**saved)
        self.loader.load_state_dict(self.state.data)
        rng = read_rng_state(ref.path, self.rank)
        if rng is not None:
            restore_rng_state(rng)
        self.metrics.truncate_after(self.state.step)
        if self.rank == 0:
            log.info("resumed from %s at step %d", ref.path, self.state.step)

    # ---- the loop --------------------------------------------------------------------------------------
    def fit(self) -> TrainerState:
        train = self.config.train
        self.resume()
        if self.rank == 0:
            log.info("data mixture:\n%s", self.loader.describe())
        self.heartbeat.beat(self.state.step)
        batches = iter(self.loader)
        device = self.engine.device
        while self.state.step < train.max_steps:
            started = time.perf_counter()
            loss = self._train_step(batches, device)
            self.state.step += 1
            tokens = self.layout.global_batch_size * train.seq_len
            self.state.consumed_tokens += tokens
            self.state.loss_window = (self.state.loss_window + [loss])[-100:]
            self.heartbeat.beat(self.state.step)
            if self.state.step % train.log_interval == 0 or self.state.step == train.max_steps:
                self.metrics.log(self.state.step, self._step_metrics(loss, tokens, time.perf_counter() - started))
            stopping = self.stop.agreed(device)
            if self.state.step % train.save_interval == 0 or self.state.step == train.max_steps or stopping:
                self.save()
            if stopping:
                break
        self.heartbeat.finish(self.state.step)
        self.metrics.close()
        return self.state

    def _train_step(self, batches, device) -> float:
        """One optimizer step: `gradient_accumulation_steps` micro batches; returns the dp-mean loss."""
        total = torch.zeros((), device=device)
        for _ in range(self.layout.gradient_accumulation_steps):
            batch = next(batches)
            loss = self.engine(
                batch["input_ids"].to(device),
                labels=batch["labels"].to(device),
                doc_ids=batch["doc_ids"].to(device) if self.config.data.document_masking else None,
            )
            self.engine.backward(loss)
            self.engine.step()
            total += loss.detach().float()
        total /= self.layout.gradient_accumulation_steps
        dist.all_reduce(total)
        return total.item() / self.world_size

    def _step_metrics(self, loss: float, tokens: int, seconds: float) -> dict:
        metrics = {
            "loss": loss,
            "lr": self.engine.get_lr()[0],
            "grad_norm": float(self.engine.get_global_grad_norm() or 0.0),
            "consumed_tokens": self.state.consumed_tokens,
            "step_seconds": seconds,
        }
        metrics.update(self.throughput.measure(tokens, seconds))
        return metrics

    def _tokenizer_path(self) -> Path | None:
        path = getattr(self.loader, "tokenizer_path", None)
        return Path(path()) if callable(path) and path() else None

    def save(self) -> Path:
        self.state.data = self.loader.state_dict()
        path = self.store.save(
            self.engine, self.state.step, asdict(self.state), self.config_yaml, self.rank, dist.barrier,
            tokenizer=self._tokenizer_path(),
        )
        if self.rank == 0:
            log.info("saved checkpoint %s", path)
        return path
