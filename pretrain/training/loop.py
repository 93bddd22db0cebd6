"""The training loop. It receives its parts (`TrainerParts`, assembled by `build_trainer` in build.py or by a
test) and only orders them: the step engine does forward/backward/step, the loop decides whether a step is
applied, when to save, when to roll back and when to stop.
"""

from __future__ import annotations

import functools
import logging
import math
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from pretrain.callbacks import Callback
from pretrain.checkpoint import CheckpointStore, read_rng_state, read_trainer_state
from pretrain.checkpoint.resume_plan import ResumePlan, load_plan
from pretrain.checkpoint.rng import restore_rng_state
from pretrain.config import PretrainConfig, to_yaml
from pretrain.distributed.collectives import Collectives
from pretrain.engine import StepEngine
from pretrain.heartbeat import Heartbeat
from pretrain.incidents import append_incident
from pretrain.metrics import MetricsLogger
from pretrain.metrics.step_timing import StepTimer
from pretrain.metrics.throughput import ThroughputMeter
from pretrain.stability import LossGuard
from pretrain.stability.straggler import StragglerDetector, WindowReport
from pretrain.training.state import StepResult, TrainerState
from pretrain.training.stop_signal import StopSignal

log = logging.getLogger(__name__)

LOSS_WINDOW = 100  # good losses the spike test looks back over


@dataclass
class TrainerParts:
    """Everything the loop orders. `build_trainer` builds the real ones; a test hands in fakes."""

    engine: StepEngine
    loader: object  # PretrainDataLoader: iter() of micro batches, state_dict()/load_state_dict(), describe()
    store: CheckpointStore
    resume_plan: ResumePlan
    metrics: MetricsLogger
    guard: LossGuard
    throughput: ThroughputMeter
    collectives: Collectives
    incidents_path: Path
    heartbeat: Heartbeat = field(default_factory=lambda: Heartbeat(None))
    stop: StopSignal = field(default_factory=StopSignal)
    callbacks: list[Callback] = field(default_factory=list)
    straggler: StragglerDetector = field(default_factory=StragglerDetector)


class Trainer:
    def __init__(self, config: PretrainConfig, rank: int, world_size: int, parts: TrainerParts):
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self.config_yaml = to_yaml(config)
        self.engine = parts.engine
        self.loader = parts.loader
        self.store = parts.store
        self.resume_plan = parts.resume_plan
        self.metrics = parts.metrics
        self.guard = parts.guard
        self.throughput = parts.throughput
        self.collectives = parts.collectives
        self.incidents_path = parts.incidents_path
        self.heartbeat = parts.heartbeat
        self.stop = parts.stop
        self.callbacks = parts.callbacks
        self.straggler = parts.straggler
        self.timer = StepTimer(self.engine.device)
        self._hosts: list[str] | None = None  # every rank's host, gathered at the first incident that names one
        self.state = TrainerState(world_size=world_size, zero_stage=config.deepspeed.zero_stage)

    # ---- resume and rollback ---------------------------------------------------------------------------
    def _load(self, plan: ResumePlan) -> None:
        self.engine.load(plan.checkpoint.path, plan.universal)
        saved = read_trainer_state(plan.checkpoint.path)
        saved.update(world_size=self.world_size, zero_stage=self.config.deepspeed.zero_stage)
        self.state = TrainerState(**saved)

    def resume(self) -> None:
        plan = self.resume_plan
        if plan.checkpoint is None:
            if self.rank == 0:
                log.info("starting from scratch (train.resume=%s)", self.config.train.resume)
            return
        started = time.perf_counter()
        self._load(plan)
        self.loader.load_state_dict(self.state.data)  # global sample count: exact on any dp size
        rng = read_rng_state(plan.checkpoint.path, self.rank)
        if rng is not None and not plan.universal:
            restore_rng_state(rng)
        self.metrics.truncate_after(self.state.step)
        if self.rank == 0:
            log.info("resumed from %s at step %d%s; checkpoint loaded in %.2f s", plan.checkpoint.path,
                     self.state.step, " (universal checkpoint, new world size)" if plan.universal else "",
                     time.perf_counter() - started)

    def rollback(self) -> None:
        """Too many bad steps in a row: reload the newest checkpoint but keep the data position, so the
        window of samples that led here is skipped rather than replayed."""
        self.store.finish(self.collectives)  # an async save in flight was taken before the bad streak: keep it
        ref = self.store.newest_valid(self.collectives)
        if ref is None:
            raise RuntimeError("loss guard wants a rollback but there is no checkpoint yet; lower the lr or "
                               "raise train.max_bad_steps")
        bad_step = self.state.step
        # After a resume on another world size the newest checkpoint may still be the old layout's.
        self._load(load_plan(ref, self.config.deepspeed.zero_stage, self.rank, self.world_size))
        # Weights, optimizer, schedule and counters go back; the loader does not (only a resume rewinds it), so
        # the samples drawn since that checkpoint are skipped. The next save records the loader's position.
        skipped = self.loader.state_dict()["consumed_samples"] - self.state.data.get("consumed_samples", 0)
        self.metrics.truncate_after(ref.step)  # the steps are redone: one record per step, as always
        if self.rank == 0:
            append_incident(self.incidents_path, "trainer", "rollback", step=bad_step, to_step=ref.step,
                            skipped_samples=skipped)
            log.warning("rolled back from step %d to checkpoint step %d; skipping that data window", bad_step, ref.step)

    # ---- the loop --------------------------------------------------------------------------------------
    def fit(self) -> TrainerState:
        try:
            return self._fit()
        except BaseException as error:
            # The supervisor names this text in the incident (a gloo/NCCL error, an OOM): stderr may be lost.
            if not isinstance(error, (KeyboardInterrupt, SystemExit)):
                self.heartbeat.fail(error)
            raise

    def _fit(self) -> TrainerState:
        train = self.config.train
        self.resume()
        if self.rank == 0:
            planned = train.max_steps * self.engine.layout.global_batch_size
            log.info("data mixture:\n%s", self.loader.describe(total_samples=planned))
        self.heartbeat.beat(self.state.step)
        for callback in self.callbacks:
            callback.on_train_start(self)
        batches = iter(self.loader)
        last_step = min(train.max_steps, train.stop_at_step or train.max_steps)
        while self.state.step < last_step:
            started = time.perf_counter()
            result = self._train_step(batches)
            self.state.step += 1
            tokens = self.engine.layout.global_batch_size * train.seq_len
            self.state.consumed_tokens += tokens
            if result.verdict is None:
                self.state.loss_window = (self.state.loss_window + [result.loss])[-LOSS_WINDOW:]
            else:
                self._audit_skipped_step(result)
            self.heartbeat.beat(self.state.step)
            self.heartbeat.phase("callbacks")
            seconds = time.perf_counter() - started
            extra = self._stragglers(result.window) if result.window is not None else {}
            for callback in self.callbacks:
                extra.update(callback.on_step_end(self) or {})
            if self.state.step % train.log_interval == 0 or self.state.step == last_step:
                extra.update(self._step_metrics(result, tokens, seconds))
            if extra:
                self.metrics.log(self.state.step, extra)
            if self.guard.record(result.verdict is not None):
                self.rollback()
                continue
            # Both flags were agreed in the step's one all-reduce (no collective of their own here).
            if self.store.in_flight is not None and not result.save_pending:
                self.store.finish(self.collectives)  # every rank's async bytes are durable: commit
            stopping = result.stop_requested
            # A scheduled save waits out a streak of bad steps: a rollback must find a checkpoint from before it.
            scheduled = self.state.step % train.save_interval == 0 and self.guard.consecutive_bad == 0
            if scheduled or self.state.step == last_step or stopping:
                self.heartbeat.phase("save")
                self.save()
            if stopping:
                break
        self.store.finish(self.collectives)  # the last save is durable and committed before the run ends
        for callback in self.callbacks:
            callback.on_train_end(self)
        self.heartbeat.finish(self.state.step)
        self.metrics.close()
        return self.state

    def _train_step(self, batches) -> StepResult:
        """One optimizer step over `gradient_accumulation_steps` micro batches.

        Every rank reaches the same verdict because it is taken on all-reduced values. The micro batches'
        losses stay on the device until the last backward is queued: one all-reduce and one host sync per
        step, not per micro batch, so a GPU never idles waiting for the host to judge a loss. The same packet
        carries what the ranks must agree on at the step end (a stop request, an async save still writing),
        so the loop takes no other collective on an ordinary step.
        """
        learning_rate = self.engine.learning_rate  # the rate this step applies (the schedule steps inside)
        losses, fingerprint = [], 0
        phase, timer = self.heartbeat.phase, self.timer
        for _ in range(self.engine.layout.gradient_accumulation_steps):
            phase("data")
            batch = next(batches)
            fingerprint += batch_fingerprint(batch["input_ids"])  # on the host copy, before the transfer
            phase("forward")
            timer.forward_started()
            loss = self.engine.forward(batch)
            timer.forward_ended()
            losses.append(loss.detach().float())
            phase("backward")
            self.engine.backward(loss)
        # The reduced gradients are complete now; their norm (before clipping) rides in the losses' all-reduce.
        # A signal or a finished background write after this point is seen at the next step's reduction.
        phase("reduce")
        compute_s, step_s = timer.previous_step()
        stats = reduce_step_stats(torch.stack(losses), fingerprint, self.engine.local_grad_square_sum(),
                                  self.collectives, stop=self.stop.requested, writing=self.store.writing(),
                                  compute_s=compute_s, step_s=step_s)
        timer.reduced()
        window = self.straggler.observe(self.state.step + 1, stats.compute_s, stats.step_s)
        phase("optimizer")
        verdict = None
        for micro_loss in stats.micro_losses:
            verdict = verdict or self.guard.judge(micro_loss, self.state.loss_window)
        if verdict is None and not math.isfinite(stats.grad_norm):
            verdict = "nonfinite_grad"
        applied = self.engine.optimizer_step(skip=verdict is not None)
        if not applied:
            verdict = verdict or "nonfinite_grad"  # the engine's own overflow check (fp16 loss scaling)
        return StepResult(sum(stats.micro_losses) / len(stats.micro_losses), verdict, learning_rate, stats.grad_norm,
                          stats.fingerprint, stop_requested=stats.stop, save_pending=stats.writing,
                          nonfinite_loss_ranks=stats.nonfinite_loss_ranks,
                          nonfinite_grad_ranks=stats.nonfinite_grad_ranks, window=window)

    # ---- where it broke --------------------------------------------------------------------------------
    def _host_names(self) -> list[str]:
        """Every rank's host. A collective, taken only at a step end that writes an incident: every rank gets
        there together, because the verdicts are taken on all-reduced values."""
        if self._hosts is None:
            self._hosts = [str(host) for host in self.collectives.all_gather_object(socket.gethostname())]
        return self._hosts

    def _audit_skipped_step(self, result: StepResult) -> None:
        fields = {}
        if result.nonfinite_ranks:
            hosts = self._host_names()
            # The first rank is the lowest-numbered whose own loss was non-finite, else whose gradient share was
            # (StepStats.nonfinite_ranks); both lists are recorded.
            fields = {"rank": result.nonfinite_ranks[0], "ranks": list(result.nonfinite_ranks),
                      "hosts": [hosts[r] for r in result.nonfinite_ranks],
                      "loss_ranks": list(result.nonfinite_loss_ranks), "grad_ranks": list(result.nonfinite_grad_ranks)}
        if self.rank == 0:
            append_incident(self.incidents_path, "trainer", "skipped_step", step=self.state.step,
                            reason=result.verdict, loss=result.loss, **fields)

    def _stragglers(self, window: WindowReport) -> dict:
        """A closed straggler window: its metrics, and an incident per rank that just became a straggler."""
        if window.new_stragglers:
            hosts = self._host_names()
            for slow in window.new_stragglers:
                if self.rank == 0:
                    append_incident(self.incidents_path, "trainer", "straggler", step=self.state.step,
                                    rank=slow.rank, host=hosts[slow.rank], ratio=round(slow.ratio, 4),
                                    compute_s=slow.compute_s, median_s=slow.median_s, windows=slow.windows,
                                    fraction=self.straggler.fraction)
                    log.warning("straggler: rank %d on %s computes %.2fx the median rank's time for %d windows",
                                slow.rank, hosts[slow.rank], slow.ratio, slow.windows)
        return window.metrics()

    def _step_metrics(self, result: StepResult, tokens: int, seconds: float) -> dict:
        metrics = {
            "loss": result.loss,
            "lr": result.learning_rate,
            "grad_norm": result.grad_norm,
            "consumed_tokens": self.state.consumed_tokens,
            "consumed_samples": self.loader.state_dict()["consumed_samples"],
            "data_fingerprint": result.data_fingerprint,
            "step_seconds": seconds,
            "skipped": result.verdict is not None,
        }
        metrics.update(self.throughput.measure(tokens, seconds))
        return metrics

    def save(self) -> Path:
        self.state.data = self.loader.state_dict()
        path = self.store.save(
            self.engine, self.state.step, asdict(self.state), self.config_yaml, self.collectives,
            tokenizer=Path(self.config.data.tokenizer) if self.config.data.tokenizer else None,
        )
        if self.rank == 0:
            if self.store.in_flight is None:
                log.info("saved checkpoint %s (%s)", path, self.store.last_report.describe())
            else:
                log.info("writing checkpoint %s in the background", path)
        return path


def batch_fingerprint(input_ids: torch.Tensor) -> int:
    """A position-weighted checksum of a micro batch: equal per step across two runs ⇔ same samples, same order."""
    ids = input_ids.to("cpu", torch.int64).flatten()
    return int(torch.dot(ids, _fingerprint_weights(ids.numel())) % 1_000_000_007)


@functools.lru_cache(maxsize=4)
def _fingerprint_weights(numel: int) -> torch.Tensor:
    # Built once per micro-batch shape instead of every micro batch (it runs on the host between the steps).
    return torch.arange(1, numel + 1, dtype=torch.int64) % 9973 + 1


# The step packet (float64, summed over ranks): two votes, the fingerprint, every rank's compute time and step
# time of the previous step (pretrain/metrics/step_timing.py), the gradients' sum of squares, one loss per micro
# batch, then every rank's own loss sum and gradient share's sum of squares (which rank was non-finite). A per-rank
# slot is filled by its rank only: the others add 0, so the sum is that rank's value, NaN included. fp64 keeps the
# integer checksum and the vote counts exact. 4 x world size slots are 32 KB at 1,024 ranks: nothing beside the
# gradients.
STOP_VOTES, WRITING_VOTES, FINGERPRINT = range(3)


@dataclass(frozen=True)
class StepStats:
    micro_losses: list[float]  # each micro batch's loss, averaged over data-parallel ranks
    fingerprint: int  # summed over ranks
    grad_norm: float  # global, from every rank's sum of squares
    stop: bool  # some rank was asked to stop (SIGTERM/SIGUSR1)
    writing: bool  # some rank's bytes of the async save in flight are not durable yet
    compute_s: np.ndarray = field(default_factory=lambda: np.zeros(1))  # per rank: the previous step's forward passes
    step_s: np.ndarray = field(default_factory=lambda: np.zeros(1))  # per rank: the previous step, whole
    # Ranks whose own micro loss was non-finite (the source: a loss is local to its rank's forward), and ranks whose
    # gradient share was. Under ZeRO-1/2/3 the share is the partition a rank owns after the reduction, so one
    # rank's NaN spreads to every owner of a poisoned element: those name the source only when no loss did.
    nonfinite_loss_ranks: list[int] = field(default_factory=list)
    nonfinite_grad_ranks: list[int] = field(default_factory=list)

    @property
    def nonfinite_ranks(self) -> list[int]:
        """The ranks to blame: those with a non-finite loss, else those with a non-finite gradient share."""
        return self.nonfinite_loss_ranks or self.nonfinite_grad_ranks


def reduce_step_stats(losses: torch.Tensor, fingerprint: int, grad_square_sum: torch.Tensor,
                      collectives: Collectives, stop: bool = False, writing: bool = False,
                      compute_s: float = 0.0, step_s: float = 0.0) -> StepStats:
    """Everything the ranks agree on per step in one all-reduce and one host sync: the micro losses, the data
    fingerprint, the global gradient norm, the step-end votes and every rank's own times and local values."""
    device = losses.device
    ranks, rank = collectives.world_size(), collectives.rank()
    exact_losses = losses.to(torch.float64)
    square_sum = grad_square_sum.reshape(1).to(device, torch.float64)
    # Host values in one array and one host-to-device copy: the votes, the fingerprint and this rank's times.
    host = np.zeros(3 + 2 * ranks)
    host[:3] = stop, writing, fingerprint
    host[3 + rank], host[3 + ranks + rank] = compute_s, step_s
    # This rank's own loss sum and gradient square sum stay on the device (reading them on the host would be a
    # sync of its own), padded with zeros into its slots of the per-rank block.
    local = torch.nn.functional.pad(torch.cat([exact_losses.sum(0, True), square_sum]), (2 * rank, 2 * (ranks - rank - 1)))
    packed = torch.cat([torch.from_numpy(host).to(device), square_sum, exact_losses, local])
    values = collectives.sum_(packed).cpu().numpy()
    grad_at = 3 + 2 * ranks
    blocks = grad_at + 1 + exact_losses.numel()
    micro = (values[grad_at + 1:blocks] / ranks).tolist()
    grad_squares = float(values[grad_at])
    loss_ranks, grad_ranks = [], []
    if not (math.isfinite(grad_squares) and all(map(math.isfinite, micro))):  # decoded only when needed
        local_values = values[blocks:].reshape(ranks, 2)
        loss_ranks = np.flatnonzero(~np.isfinite(local_values[:, 0])).tolist()
        grad_ranks = np.flatnonzero(~np.isfinite(local_values[:, 1])).tolist()
    return StepStats(micro, int(values[FINGERPRINT]), math.sqrt(grad_squares), bool(values[STOP_VOTES] > 0),
                     bool(values[WRITING_VOTES] > 0), values[3:3 + ranks], values[3 + ranks:3 + 2 * ranks],
                     loss_ranks, grad_ranks)
