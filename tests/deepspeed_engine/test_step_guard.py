"""On 2 gloo ranks, two launches of step_guard_worker.py:

* every entry point that creates a process group selects this rank's device before its first collective
  (issue 13 item 1: under NCCL the resume broadcast ran on cuda:0 of every rank);
* a non-finite gradient with a finite loss skips the step on every rank, for ZeRO 0-3 in bf16 and fp32: weights
  and optimizer state untouched, the skip audited, the schedule still advancing, the next step applied (item 3);
* the gradient norm is reported for every stage and precision and the stages agree (item 11: fp32 ZeRO-0
  reported 0).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.deepspeed_engine.conftest import REPO, data_overrides, launch_two_ranks
from tests.deepspeed_engine.step_guard_worker import CASES, POISON_STEP

pytestmark = pytest.mark.slow

STEPS = 3


def _launch(mode: str, corpus: Path, out: Path) -> Path:
    overrides = [
        "model=tiny", *data_overrides(corpus), "train.seq_len=32", "train.micro_batch_size=2",
        "train.global_batch_size=8", "train.warmup_steps=1", "train.lr=3e-3", "train.save_interval=1000",
        "train.spike_sigma=0",  # only the gradient decides here
    ]
    worker = Path(__file__).with_name("step_guard_worker.py")
    result = launch_two_ranks([str(worker), mode, str(out), *overrides], cwd=REPO, timeout=500, scratch=out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def entry_runs(corpus_dir, tmp_path_factory) -> Path:
    return _launch("entry_points", corpus_dir, tmp_path_factory.mktemp("entry_points"))


@pytest.fixture(scope="module")
def guard_runs(corpus_dir, tmp_path_factory) -> Path:
    return _launch("stages", corpus_dir, tmp_path_factory.mktemp("step_guard"))


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_every_entry_point_selects_its_device_before_the_first_collective(entry_runs):
    for rank in (0, 1):
        seen = json.loads((entry_runs / f"device_order_rank{rank}.json").read_text())
        for entry_point, events in seen["events"].items():
            kinds = [kind for kind, _ in events]
            assert "collective" in kinds, (entry_point, events)  # the test would be moot otherwise
            assert "set_device" in kinds, f"{entry_point} never selects a device on rank {rank}"
            first_device = kinds.index("set_device")
            assert first_device < kinds.index("collective"), (entry_point, rank, events[:first_device + 1])
            assert events[first_device][1] == seen["local_rank"], (entry_point, rank, events[first_device])


@pytest.mark.parametrize("case", list(CASES))
def test_a_nonfinite_gradient_skips_the_step_on_every_rank(guard_runs, case):
    run_dir = guard_runs / case
    records = _records(run_dir)
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))
    assert [r["skipped"] for r in records] == [step == POISON_STEP for step in range(1, STEPS + 1)]
    assert all(math.isfinite(r["loss"]) for r in records)  # only the gradient was poisoned
    assert not math.isfinite(records[POISON_STEP - 1]["grad_norm"])
    incidents = [json.loads(line) for line in (run_dir / "incidents.jsonl").read_text().splitlines()]
    assert [(i["kind"], i["step"], i["reason"]) for i in incidents] == [("skipped_step", POISON_STEP,
                                                                          "nonfinite_grad")]
    for rank in (0, 1):
        view = json.loads((run_dir / f"rank{rank}.json").read_text())
        assert view["skip_left_state_untouched"], f"rank {rank} applied the NaN step (weights or Adam state moved)"
        assert view["next_step_applied"] and view["finite"], view
        assert view["scheduler_steps"] == STEPS  # the schedule follows the step count, skipped or not


def test_every_stage_reports_the_same_gradient_norm(guard_runs):
    first = {case: _records(guard_runs / case)[0]["grad_norm"] for case in CASES}
    assert all(norm > 0 for norm in first.values()), first
    # Measured: fp32 stages within 1e-8 of each other, bf16 within 3e-5, bf16 vs fp32 5e-4.
    for precision, rel in (("fp32", 1e-6), ("bf16", 1e-3)):
        reference = first[f"zero1_{precision}"]
        for stage in (0, 2, 3):
            assert first[f"zero{stage}_{precision}"] == pytest.approx(reference, rel=rel), (precision, first)
    assert first["zero1_bf16"] == pytest.approx(first["zero1_fp32"], rel=3e-3)
    for case in CASES:  # the step after the skip is measured again
        assert math.isfinite(_records(guard_runs / case)[POISON_STEP]["grad_norm"])
