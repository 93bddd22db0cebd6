"""The loop's decisions with a fake step engine (milliseconds, no DeepSpeed): skip, rollback with the data window
skipped, stop agreement, save cadence, resume, metrics once per step. The real-engine versions of these run on
two DeepSpeed ranks in tests/deepspeed_engine and tests/integration."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

from pretrain.callbacks import Callback
from pretrain.checkpoint import CheckpointStore
from pretrain.checkpoint.store import ENGINE_TAG
from pretrain.config import resolve_batch_layout
from tests.trainer.fake_parts import (
    LOSS,
    CountingCollectives,
    FakeEngine,
    fake_trainer,
    incidents,
    loop_config,
    metrics_records,
)

GLOBAL_BATCH = 4  # micro batch 2 × accumulation 2 × one rank (loop_config)


def first_sample(step: int) -> int:
    """The first global sample a step draws when no data was skipped (1-based step)."""
    return (step - 1) * GLOBAL_BATCH


def engine_for(config, **kwargs) -> FakeEngine:
    return FakeEngine(resolve_batch_layout(config.train, 1), **kwargs)


def saved_steps(config) -> list[int]:
    return sorted(ref.step for ref in CheckpointStore(config.train.checkpoint_dir).committed())


def test_a_clean_run_applies_every_step_logs_each_once_and_saves_on_cadence(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=7", "train.save_interval=3", "train.keep_last=10")
    engine = engine_for(config)

    class Extra(Callback):
        def on_step_end(self, trainer):
            return {"extra": trainer.state.step * 10}

    state = fake_trainer(config, engine, callbacks=[Extra()]).fit()
    assert state.step == 7 and engine.applied_steps == 7 and engine.step_calls == [False] * 7
    # Every micro batch of every step, in order, each exactly once (accumulation 2 × micro batch 2).
    assert engine.seen_samples == [s for step in range(1, 8) for s in (first_sample(step), first_sample(step) + 2)]
    records = metrics_records(config)
    assert [r["step"] for r in records] == list(range(1, 8))  # one record per step
    assert [r["extra"] for r in records] == [10 * s for s in range(1, 8)]  # callbacks merge into that record
    assert all(r["loss"] == LOSS and r["skipped"] is False and r["grad_norm"] == 2.0 for r in records)
    assert [r["consumed_samples"] for r in records] == [GLOBAL_BATCH * s for s in range(1, 8)]
    assert records[0]["lr"] == 0.1 and math.isclose(records[1]["lr"], 0.05)  # the rate the step applied
    assert saved_steps(config) == [3, 6, 7]  # every save_interval, and the last step
    assert incidents(config) == []


def test_a_nan_loss_is_skipped_everywhere_and_audited(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=5", "train.max_bad_steps=3")
    engine = engine_for(config, nan_samples={first_sample(3) + 2})  # the second micro batch of step 3
    state = fake_trainer(config, engine).fit()
    assert engine.step_calls == [False, False, True, False, False]  # vetoed before the update
    assert engine.applied_steps == 4 and engine.schedule_steps == 5  # the schedule follows the step count
    records = metrics_records(config)
    assert records[2]["skipped"] is True and math.isnan(records[2]["loss"])
    assert all(not r["skipped"] for i, r in enumerate(records) if i != 2)
    assert all(math.isfinite(loss) for loss in state.loss_window) and len(state.loss_window) == 4
    [incident] = incidents(config)
    assert (incident["source"], incident["kind"], incident["step"], incident["reason"]) == \
        ("trainer", "skipped_step", 3, "nonfinite_loss")
    assert incident["time"].endswith("+00:00")  # the one incident format: ISO-8601 UTC


def test_a_nonfinite_gradient_or_an_engine_overflow_skips_the_step(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=4")
    engine = engine_for(config, inf_grad_samples={first_sample(2)}, overflow_steps={4})
    fake_trainer(config, engine).fit()
    assert engine.step_calls == [False, True, False, False]  # ours vetoed step 2; the engine refused step 4
    assert engine.applied_steps == 2
    records = metrics_records(config)
    assert math.isinf(records[1]["grad_norm"]) and records[1]["skipped"] and records[3]["skipped"]
    assert [(i["step"], i["reason"]) for i in incidents(config)] == [(2, "nonfinite_grad"), (4, "nonfinite_grad")]


def test_a_loss_spike_against_the_window_is_skipped(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=5", "train.spike_sigma=3", "train.spike_min_history=3")
    engine = engine_for(config)
    trainer = fake_trainer(config, engine)
    forward = engine.forward
    engine.forward = lambda batch: forward(batch) * (50 if int(batch["input_ids"][0, 0]) == first_sample(5) else 1)
    trainer.fit()
    assert engine.step_calls == [False] * 4 + [True]
    assert [i["reason"] for i in incidents(config)] == ["loss_spike"]


def test_consecutive_bad_steps_roll_back_and_skip_the_data_window(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=6", "train.save_interval=2", "train.max_bad_steps=3",
                         "train.keep_last=10")
    poisoned = {first_sample(step) for step in (3, 4, 5)}
    engine = engine_for(config, nan_samples=poisoned)

    class StepBudget(Callback):  # a loop that replays the poisoned window would roll back forever
        calls = 0

        def on_step_end(self, trainer):
            self.calls += 1
            assert self.calls <= 20, "rolled back in a loop: the bad data window was replayed"

    state = fake_trainer(config, engine, callbacks=[StepBudget()]).fit()
    assert engine.loads == [("step_00000002", False)]  # back to the checkpoint before the streak
    assert [(i["kind"], i["step"]) for i in incidents(config)] == [
        ("skipped_step", 3), ("skipped_step", 4), ("skipped_step", 5), ("rollback", 5)]
    assert incidents(config)[-1]["to_step"] == 2 and incidents(config)[-1]["skipped_samples"] == 3 * GLOBAL_BATCH
    # The poisoned window is never replayed: every sample is drawn once, and the redone steps 3-6 read on.
    firsts = engine.seen_samples[::2]
    assert len(firsts) == len(set(firsts)) == 9
    assert firsts[5:] == [first_sample(step) for step in (6, 7, 8, 9)]
    # Weights: 2 steps before the checkpoint, the 3 bad ones discarded twice over (vetoed, then rolled back), 4 redone.
    assert state.step == 6 and engine.applied_steps == 6
    records = metrics_records(config)
    assert [r["step"] for r in records] == list(range(1, 7))  # redone steps replace their records
    assert [r["consumed_samples"] for r in records] == [4, 8, 24, 28, 32, 36]
    assert not any(r["skipped"] for r in records)
    # A scheduled save waits out a streak of bad steps: the bad step 4 was not saved (the rollback found step 2);
    # the redone step 4 was.
    assert saved_steps(config) == [2, 4, 6]


def test_rollback_without_any_checkpoint_is_a_clear_error(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=6", "train.save_interval=100", "train.max_bad_steps=2")
    engine = engine_for(config, nan_samples={first_sample(1), first_sample(2)})
    try:
        fake_trainer(config, engine).fit()
    except RuntimeError as exc:
        assert "no checkpoint yet" in str(exc)
    else:
        raise AssertionError("a rollback with nothing to roll back to must stop the run")


def test_a_stop_requested_on_another_rank_saves_and_stops_every_rank_after_the_same_step(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=10", "train.save_interval=100")
    engine = engine_for(config)
    collectives = CountingCollectives(other_rank_stops_at=3)  # the vote arrives in step 3's reduction
    trainer = fake_trainer(config, engine, collectives=collectives)
    assert trainer.stop.requested is False  # this rank never got the signal
    state = trainer.fit()
    assert state.step == 3 and engine.applied_steps == 3
    assert saved_steps(config) == [3]  # the stop saves, then exits
    assert collectives.calls["sum_"] == 3 and collectives.calls["any"] == 0


def test_a_local_signal_stops_at_the_end_of_the_step_whose_reduction_carried_it(tmp_path):
    config = loop_config(tmp_path, "train.max_steps=10", "train.save_interval=100")

    class SignalInStep3(FakeEngine):
        def forward(self, batch):
            trainer.stop.requested |= len(self.seen_samples) == 4  # step 3's first micro batch
            return super().forward(batch)

    trainer = fake_trainer(config, SignalInStep3(resolve_batch_layout(config.train, 1)))
    state = trainer.fit()
    assert state.step == 3 and saved_steps(config) == [3]

    # A signal after a step's reduction (here: at its end) rides in the next step's packet.
    config = loop_config(tmp_path / "late", "train.max_steps=10", "train.save_interval=100")

    class SignalAtEndOfStep2(Callback):
        def on_step_end(self, trainer):
            trainer.stop.requested = trainer.state.step == 2 or trainer.stop.requested

    state = fake_trainer(config, callbacks=[SignalAtEndOfStep2()]).fit()
    assert state.step == 3 and saved_steps(config) == [3]


class GatedSaveEngine(FakeEngine):
    """Saves its state through the store's writer, as the DeepSpeed engine does; under `train.async_save` the
    background write of a save is held until `release_at_step` has ended."""

    def __init__(self, layout, store: CheckpointStore):
        super().__init__(layout)
        self.writer = store.writer
        self.gate = threading.Event()

    def save(self, checkpoint_dir):
        super().save(checkpoint_dir)
        self.writer.write_state({"gate": HeldPickle(self.gate)}, Path(checkpoint_dir) / ENGINE_TAG / "state.pt")


class HeldPickle:
    """Blocks the background writer that pickles it until `gate` is set (deepcopy by the snapshot: the same)."""

    def __init__(self, gate: threading.Event):
        self.gate = gate

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        self.gate.wait(30)
        return (int, (0,))


def test_every_step_takes_exactly_one_collective_even_while_an_async_save_is_in_flight(tmp_path):
    """The step statistics, the stop vote and "my async bytes are durable" share one all-reduce (and one host
    sync); a save's own collectives come only at the step end that starts or commits it."""
    config = loop_config(tmp_path, "train.max_steps=8", "train.save_interval=4", "train.async_save=true")
    train = config.train
    store = CheckpointStore(train.checkpoint_dir, train.keep_last, train.keep_every, background=True)
    engine = GatedSaveEngine(resolve_batch_layout(train, 1), store)
    collectives = CountingCollectives()
    ledgers: list[dict] = []  # per step: the collectives since the previous step's callback
    latest_at_step: list[str | None] = []

    class Ledger(Callback):  # runs before the loop's step-end commit and save
        def on_step_end(self, trainer):
            ledgers.append(dict(collectives.calls))
            collectives.calls.clear()
            latest = Path(train.checkpoint_dir) / "latest"
            latest_at_step.append(latest.read_text().strip() if latest.exists() else None)
            if trainer.state.step == 6:  # step 6's reduction still saw the bytes in flight
                engine.gate.set()
                deadline = time.monotonic() + 30
                while not store.writer.done() and time.monotonic() < deadline:
                    time.sleep(0.01)

    state = fake_trainer(config, engine, collectives=collectives, callbacks=[Ledger()], store=store).fit()
    assert state.step == 8 and saved_steps(config) == [4, 8]
    # Step 4's save is written in the background through steps 5 and 6; step 7's reduction finds every rank's
    # bytes durable, so it is committed at the end of step 7.
    assert latest_at_step == [None] * 7 + ["step_00000004"]
    for step in (1, 2, 3, 4, 6, 7):
        assert ledgers[step - 1] == {"sum_": 1}, f"step {step}: {ledgers[step - 1]}"
    for step in (5, 8):  # plus the collectives of the save begun (5) or committed (8) at the previous step end
        assert ledgers[step - 1]["sum_"] == 1 and "any" not in ledgers[step - 1], f"step {step}: {ledgers[step - 1]}"


def test_a_second_launch_resumes_state_data_position_and_metrics_from_the_newest_checkpoint(tmp_path):
    first = loop_config(tmp_path, "train.max_steps=10", "train.stop_at_step=5", "train.save_interval=2")
    fake_trainer(first, engine_for(first)).fit()
    assert saved_steps(first) == [2, 4, 5]
    second = loop_config(tmp_path, "train.max_steps=10", "train.save_interval=2")
    engine = engine_for(second)
    state = fake_trainer(second, engine).fit()
    assert engine.loads[0] == ("step_00000005", False)
    assert engine.seen_samples[0] == first_sample(6)  # the data position came back with the checkpoint
    assert state.step == 10 and engine.applied_steps == 10
    assert [r["step"] for r in metrics_records(second)] == list(range(1, 11))
