"""Failure recovery on real ranks: a killed, hung or torn run continues exactly where an uninterrupted one
would have been — same losses, same samples, nothing repeated or skipped."""

from __future__ import annotations

import json
import random

import pytest

from tests.faults.trainer_faults import environment
from tests.integration.conftest import REPO, metrics, train

pytestmark = [pytest.mark.slow, pytest.mark.integration]

STEPS = ["train.max_steps=10", "train.save_interval=2"]
SUPERVISOR = ["--max-restarts", "2", "--backoff", "0.2", "--poll-interval", "0.2", "--kill-grace", "2"]


def fault(**spec) -> dict:
    return environment(REPO, fault=spec)


@pytest.fixture(scope="module")
def reference(demo_data, tmp_path_factory) -> list[dict]:
    """An uninterrupted 2-rank ZeRO-2 run: the sequence every recovered run must reproduce."""
    run_dir = tmp_path_factory.mktemp("reference")
    train(demo_data, run_dir, STEPS)
    return metrics(run_dir)


def assert_same_trajectory(records: list[dict], reference: list[dict]) -> None:
    assert [r["step"] for r in records] == [r["step"] for r in reference]
    # Bit-identical: the resumed run restored weights, optimizer, schedule, RNG and data position exactly.
    assert [r["loss"] for r in records] == [r["loss"] for r in reference]
    # The same global samples in the same order at every step: none repeated, none skipped.
    assert [r["data_fingerprint"] for r in records] == [r["data_fingerprint"] for r in reference]
    assert [r["consumed_samples"] for r in records] == [r["consumed_samples"] for r in reference]


def test_sigkill_of_a_rank_under_the_supervisor_is_bit_identical(demo_data, tmp_path, reference):
    step = random.Random().randint(3, 8)  # "a random step": any of them must recover identically
    run_dir = tmp_path / "run"
    result = train(demo_data, run_dir, STEPS, supervisor=SUPERVISOR + ["--incidents", str(tmp_path / "inc.jsonl")],
                   env=fault(signal="SIGKILL", rank=1, step=step, once_file=str(tmp_path / "fired")))
    assert (tmp_path / "fired").exists(), result.stderr[-2000:]
    incidents = [json.loads(line) for line in (tmp_path / "inc.jsonl").read_text().splitlines()]
    assert incidents and incidents[0]["cause"] == "exit"
    assert_same_trajectory(metrics(run_dir), reference)


def test_sigkill_during_checkpoint_write_leaves_a_torn_save_that_is_skipped(demo_data, tmp_path, reference):
    run_dir = tmp_path / "run"
    first = train(demo_data, run_dir, STEPS, check=False,
                  env=fault(signal="SIGKILL", rank=0, step=6, phase="save", once_file=str(tmp_path / "fired")))
    assert first.returncode != 0
    checkpoints = run_dir / "checkpoints"
    assert (checkpoints / ".tmp_step_00000006").is_dir()  # engine state on disk, never committed
    assert (checkpoints / "latest").read_text().strip() == "step_00000004"
    train(demo_data, run_dir, STEPS)
    assert_same_trajectory(metrics(run_dir), reference)


def test_an_async_save_killed_mid_flight_leaves_the_previous_checkpoint_latest(demo_data, tmp_path, reference):
    """train.async_save: rank 0 dies right after handing step 6's state to its background writer — bytes in
    flight, nothing committed. `latest` still names step 4, and the rerun is bit-identical."""
    run_dir = tmp_path / "run"
    steps = STEPS + ["train.async_save=true"]
    first = train(demo_data, run_dir, steps, check=False,
                  env=fault(signal="SIGKILL", rank=0, step=6, phase="save", once_file=str(tmp_path / "fired")))
    assert first.returncode != 0 and (tmp_path / "fired").exists()
    checkpoints = run_dir / "checkpoints"
    assert not (checkpoints / ".tmp_step_00000006" / "manifest.json").exists()
    assert not (checkpoints / "step_00000006").exists()
    assert (checkpoints / "latest").read_text().strip() == "step_00000004"
    train(demo_data, run_dir, steps)
    assert_same_trajectory(metrics(run_dir), reference)


def test_a_flipped_byte_in_one_ranks_file_is_found_by_that_rank_and_every_rank_skips(demo_data, tmp_path,
                                                                                      reference):
    run_dir = tmp_path / "run"
    train(demo_data, run_dir, STEPS + ["train.stop_at_step=6"])
    victim = run_dir / "checkpoints" / "step_00000006" / "deepspeed" / "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the digest can tell
    victim.write_bytes(bytes(data))
    rerun = train(demo_data, run_dir, STEPS)
    output = rerun.stdout + rerun.stderr
    assert "rank 1: checkpoint" in output and "fails verification: checksum mismatch" in output
    assert "rank 0: checkpoint" not in output  # rank 0 never read rank 1's partition
    assert "(found by rank 1)" in output and "at step 4" in output
    assert_same_trajectory(metrics(run_dir), reference)


def test_a_hung_rank_is_detected_and_the_run_restarted(demo_data, tmp_path, reference):
    run_dir = tmp_path / "run"
    supervisor = SUPERVISOR + ["--heartbeat-timeout", "8", "--incidents", str(tmp_path / "inc.jsonl")]
    train(demo_data, run_dir, STEPS, supervisor=supervisor,
          env=fault(signal="SIGSTOP", rank=1, step=5, once_file=str(tmp_path / "fired")))
    incidents = [json.loads(line) for line in (tmp_path / "inc.jsonl").read_text().splitlines()]
    assert incidents[0]["cause"] == "hang" and incidents[0]["rank"] == 1  # the stopped rank is named
    assert_same_trajectory(metrics(run_dir), reference)


def test_two_to_one_to_two_ranks_with_an_injected_nan(demo_data, tmp_path, reference):
    run_dir = tmp_path / "run"
    nan = environment(REPO, nan_batches=[3])
    train(demo_data, run_dir, STEPS + ["train.stop_at_step=4"], ranks=2, env=nan)
    single = train(demo_data, run_dir, STEPS + ["train.stop_at_step=7"], ranks=1, env=nan)
    assert "universal checkpoint" in single.stdout
    train(demo_data, run_dir, STEPS, ranks=2, env=nan)
    records = metrics(run_dir)
    assert [r["step"] for r in records] == list(range(1, 11))
    # The global sample sequence is exact across 2 → 1 → 2 ranks (global batch stays 8).
    assert [r["data_fingerprint"] for r in records] == [r["data_fingerprint"] for r in reference]
    assert [r["consumed_samples"] for r in records] == [8 * s for s in range(1, 11)]
    # The NaN step was skipped (and audited), and training went on with finite losses.
    assert records[2]["skipped"] is True and records[2]["loss"] != records[2]["loss"]
    assert all(r["loss"] == r["loss"] and not r["skipped"] for r in records if r["step"] != 3)
    incidents = [json.loads(line) for line in (run_dir / "incidents.jsonl").read_text().splitlines()]
    assert [(i["kind"], i["step"], i["reason"]) for i in incidents] == [("skipped_step", 3, "nonfinite_loss")]
    assert records[-1]["loss"] < records[0]["loss"]


def test_consecutive_bad_steps_roll_back_and_skip_the_data_window(demo_data, tmp_path):
    """On one rank, after resuming a 2-rank checkpoint: the rollback target is that checkpoint, written by
    another world size, so the rollback must load it as universal too."""
    run_dir = tmp_path / "run"
    steps = ["train.max_steps=6", "train.save_interval=2", "train.max_bad_steps=3"]
    train(demo_data, run_dir, steps + ["train.stop_at_step=2"], ranks=2)
    train(demo_data, run_dir, steps, ranks=1, env=environment(REPO, nan_batches=[3, 4, 5]))
    incidents = [json.loads(line) for line in (run_dir / "incidents.jsonl").read_text().splitlines()]
    assert [(i["kind"], i["step"]) for i in incidents] == [
        ("skipped_step", 3), ("skipped_step", 4), ("skipped_step", 5), ("rollback", 5)]
    assert incidents[-1]["to_step"] == 2 and incidents[-1]["skipped_samples"] == 3 * 8
    records = metrics(run_dir)
    assert [r["step"] for r in records] == list(range(1, 7))  # steps 3-5 redone, one record each
    # After the rollback the loader went on from where it was: the poisoned batches are never replayed.
    assert [r["consumed_samples"] for r in records] == [8, 16, 48, 56, 64, 72]
    assert all(r["loss"] == r["loss"] and not r["skipped"] for r in records)
