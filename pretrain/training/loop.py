"""The training loop. Concerns with their own state live in components (engine, checkpoint store, data
loader, metrics, loss guard, heartbeat, stop signal); the loop only orders them.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from pretrain.callbacks import build_callbacks
from pretrain.checkpoint import CheckpointRef, CheckpointStore, read_rng_state, read_trainer_state
from pretrain.checkpoint.optimizer_groups import repair_universal_load
from pretrain.checkpoint.rng import restore_rng_state
from pretrain.checkpoint.store import ENGINE_TAG
from pretrain.checkpoint.universal import UNIVERSAL_TAG, universal_dir
from pretrain.config import PretrainConfig, to_yaml
from pretrain.data import PretrainDataLoader, batch_to_device
from pretrain.engine import build_engine
from pretrain.faults import maybe_inject
from pretrain.heartbeat import Heartbeat
from pretrain.metrics import MetricsLogger
from pretrain.metrics.throughput import ThroughputMeter
from pretrain.checkpoint.resume_plan import TrainerState, plan_resume
from pretrain.signals import StopSignal
from pretrain.stability import LossGuard, append_incident, local_grad_square_sum

log = logging.getLogger(__name__)


class Trainer:
    def __init__(self, config: PretrainConfig, rank: int, world_size: int):
        self.config = config
        self.rank = rank
        self.world_size = world_size
        train = config.train
        self.config_yaml = to_yaml(config)
        # The loader first: it is cheap, and a wrong data path should fail in a second, not after engine setup.
        self.loader = PretrainDataLoader(config.data, seq_len=train.seq_len, micro_batch_size=train.micro_batch_size,
                                         dp_rank=rank, dp_size=world_size)
        self.store = CheckpointStore(train.checkpoint_dir, train.keep_last, train.keep_every,
                                     checksums=train.verify_checksums)
        # Decide what to resume from before building the engine: another world size needs the universal
        # checkpoint, which DeepSpeed must be told about at initialisation.
        self.resume_plan = plan_resume(self.store, config, self.config_yaml, rank, world_size)
        self.bundle = build_engine(config, world_size, load_universal=self.resume_plan.universal)
        self.engine, self.layout = self.bundle.engine, self.bundle.layout
        self.state = TrainerState(world_size=world_size, zero_stage=config.deepspeed.zero_stage)
        self.metrics = MetricsLogger(config.logging, rank, run_config=asdict(config))
        self.guard = LossGuard(train.spike_sigma, train.spike_min_history, train.max_bad_steps)
        self.incidents = Path(config.logging.run_dir) / "incidents.jsonl"
        self.heartbeat = Heartbeat.from_env()
        self.stop = StopSignal()
        self.throughput = ThroughputMeter(config.model, train.seq_len, world_size, precision=train.precision,
                                          gpu=config.cluster.gpu)
        self.callbacks = build_callbacks(config)

    # ---- resume ----------------------------------------------------------------------------------------
    def _load(self, ref: CheckpointRef, universal: bool) -> None:
        self.engine.load_checkpoint(str(ref.path), tag=UNIVERSAL_TAG if universal else ENGINE_TAG,
                                    load_optimizer_states=True, load_lr_scheduler_states=True)
        if universal:  # DeepSpeed's ZeRO-3 universal load flattens the parameter groups (see optimizer_groups)
            repair_universal_load(self.bundle.optimizer, universal_dir(ref.path))
        saved = read_trainer_state(ref.path)
        saved.update(world_size=self.world_size, zero_stage=self.config.deepspeed.zero_stage)
        self.state = TrainerState(**saved)

    def resume(self) -> None:
        ref = self.resume_plan.checkpoint
        if ref is None:
            if self.rank == 0:
                log.info("starting from scratch (train.resume=%s)", self.config.train.resume)
            return
        started = time.perf_counter()
        self._load(ref, self.resume_plan.universal)
        self.loader.load_state_dict(self.state.data)  # global sample count: exact on any dp size
        rng = read_rng_state(ref.path, self.rank)
        if rng is not None and not self.resume_plan.universal:
            restore_rng_state(rng)
        self.metrics.truncate_after(self.state.step)
        if self.rank == 0:
            log.info("resumed from %s at step %d%s; checkpoint loaded in %.2f s", ref.path, self.state.step,
                     " (universal checkpoint, new world size)" if self.resume_plan.universal else "",
                     time.perf_counter() - started)

    def rollback(self) -> None:
        """Too many bad steps in a row: reload the newest checkpoint but keep the data position, so the
        window of samples that led here is skipped rather than replayed."""
        ref = self.store.newest_valid()
        if ref is None:
            raise RuntimeError("loss guard wants a rollback but there is no checkpoint yet; lower the lr or "
                               "raise train.max_bad_steps")
        position = self.loader.state_dict()
        bad_step = self.state.step
        self._load(ref, universal=False)
        skipped = position["consumed_samples"] - self.state.data.get("consumed_samples", 0)
        self.state.data = position
        self.metrics.truncate_after(ref.step)  # the steps are redone: one record per step, as always
        if self.rank == 0:
            append_incident(self.incidents, "rollback", step=bad_step, to_step=ref.step, skipped_samples=skipped)
            log.warning("rolled back from step %d to checkpoint step %d; skipping that data window", bad_step, ref.step)

    # ---- the loop --------------------------------------------------------------------------------------
    def fit(self) -> TrainerState:
        train = self.config.train
        self.resume()
        if self.rank == 0:
            planned = train.max_steps * self.layout.global_batch_size
            log.info("data mixture:\n%s", self.loader.describe(total_samples=planned))
        self.heartbeat.beat(self.state.step)
        for callback in self.callbacks:
            callback.on_train_start(self)
        batches = iter(self.loader)
        device = self.engine.device
        last_step = min(train.max_steps, train.stop_at_step or train.max_steps)
        while self.state.step < last_step:
            started = time.perf_counter()
            loss, verdict = self._train_step(batches, device)
            self.state.step += 1
            tokens = self.layout.global_batch_size * train.seq_len
            self.state.consumed_tokens += tokens
            if verdict is None:
                self.state.loss_window = (self.state.loss_window + [loss])[-100:]
            elif self.rank == 0:
                append_incident(self.incidents, "skipped_step", step=self.state.step, reason=verdict, loss=loss)
            self.heartbeat.beat(self.state.step)
            maybe_inject(self.state.step, self.rank, "step")
            seconds = time.perf_counter() - started
            extra = {}
            for callback in self.callbacks:
                extra.update(callback.on_step_end(self) or {})
            if self.state.step % train.log_interval == 0 or self.state.step == last_step:
                extra.update(self._step_metrics(loss, tokens, seconds), skipped=verdict is not None)
            if extra:
                self.metrics.log(self.state.step, extra)
            if self.guard.record(verdict is not None):
                self.rollback()
                continue
            stopping = self.stop.agreed(device)
            # A scheduled save waits out a streak of bad steps: a rollback must find a checkpoint from before it.
            scheduled = self.state.step % train.save_interval == 0 and self.guard.consecutive_bad == 0
            if scheduled or self.state.step == last_step or stopping:
                self.save()
            if stopping:
                break
        for callback in self.callbacks:
            callback.on_train_end(self)
        self.heartbeat.finish(self.state.step)
        self.metrics.close()
        return self.state

    def _train_step(self, batches, device) -> tuple[float, str | None]:
        """One optimizer step over `gradient_accumulation_steps` micro batches.

        Returns the data-parallel mean loss and, when the step was not applied, why. Every rank reaches the
        same verdict because it is taken on all-reduced values. The micro batches' losses stay on the device
        until the last backward is queued: one all-reduce and one host sync per step, not per micro batch, so
        a GPU never idles waiting for the host to judge a loss.
        """
        optimizer, gas = self.bundle.optimizer, self.layout.gradient_accumulation_steps
        self.step_lr = self.engine.get_lr()[0]  # the rate this step applies (the scheduler steps inside)
        # 1-based index of this global batch in the data order: the step number, unless a rollback skipped data.
        batch_index = self.loader.state_dict()["consumed_samples"] // self.layout.global_batch_size + 1
        poisoned = batch_index in self.config.train.inject_nan_steps
        losses, fingerprint, verdict = [], 0, None
        for micro in range(gas):
            batch = next(batches)
            fingerprint += batch_fingerprint(batch["input_ids"])  # on the host copy, before the transfer
            # Pinned, non_blocking copies, and cu_seqlens from the host: queuing this batch never waits for the GPU.
            loss = self.engine(**batch_to_device(batch, device, self.config.data.document_masking))
            if poisoned:
                loss = loss * float("nan")
            losses.append(loss.detach().float())
            self.engine.backward(loss)
            if micro == gas - 1:  # the optimizer applies the update in this step(): judge before it
                # The reduced gradients are complete now; their norm is the pre-clipping one (DeepSpeed clips
                # inside step()) and rides in the losses' all-reduce.
                micro_losses, self.last_data_fingerprint, self.last_grad_norm = reduce_step_stats(
                    torch.stack(losses), fingerprint, local_grad_square_sum(self.engine), self.world_size)
                for micro_loss in micro_losses:
                    verdict = verdict or self.guard.judge(micro_loss, self.state.loss_window)
                if verdict is None and not math.isfinite(self.last_grad_norm):
                    verdict = "nonfinite_grad"
                optimizer.skip_requested = verdict is not None
            self.engine.step()
        optimizer.skip_requested = False
        if not self.engine.was_step_applied():
            # DeepSpeed's own overflow check got there first (fp16 loss scaling; ZeRO-3, ZeRO-1 bf16 and fp32
            # ZeRO-1/2 on a non-finite norm) and left the LR schedule where it was. Ours follows the step count
            # on every skip, so every stage and precision schedules alike.
            self.engine.lr_scheduler.step()
            verdict = verdict or "nonfinite_grad"
        return sum(micro_losses) / gas, verdict

    def _step_metrics(self, loss: float, tokens: int, seconds: float) -> dict:
        metrics = {
            "loss": loss,
            "lr": self.step_lr,
            "grad_norm": self.last_grad_norm,  # before clipping; non-finite on a skipped nonfinite_grad step
            "consumed_tokens": self.state.consumed_tokens,
            "consumed_samples": self.loader.state_dict()["consumed_samples"],
            "data_fingerprint": self.last_data_fingerprint,
            "step_seconds": seconds,
        }
        metrics.update(self.throughput.measure(tokens, seconds))
        return metrics

    def save(self) -> Path:
        self.state.data = self.loader.state_dict()
        path = self.store.save(
            self.engine, self.state.step, asdict(self.state), self.config_yaml, self.rank, dist.barrier,
            tokenizer=Path(self.config.data.tokenizer) if self.config.data.tokenizer else None,
        )
        if self.rank == 0:
            log.info("saved checkpoint %s", path)
        return path


def batch_fingerprint(input_ids: torch.Tensor) -> int:
    """A position-weighted checksum of a micro batch: equal per step across two runs ⇔ same samples, same order."""
    ids = input_ids.to("cpu", torch.int64).flatten()
    weights = torch.arange(1, ids.numel() + 1, dtype=torch.int64) % 9973 + 1
    return int((ids * weights).sum() % 1_000_000_007)


def reduce_step_stats(losses: torch.Tensor, fingerprint: int, grad_square_sum: torch.Tensor,
                      world_size: int) -> tuple[list[float], int, float]:
    """Each micro batch's loss averaged over data-parallel ranks, the fingerprints summed over ranks, and the
    global gradient norm from each rank's sum of squares: one all-reduce (fp64 keeps the integer checksum
    exact) and one host sync."""
    packed = torch.cat([losses.to(torch.float64), torch.tensor([float(fingerprint)], dtype=torch.float64,
                                                                 device=losses.device),
                        grad_square_sum.reshape(1).to(losses.device, torch.float64)])
    dist.all_reduce(packed)
    values = packed.tolist()
    return [value / world_size for value in values[:-2]], int(values[-2]), math.sqrt(values[-1])
