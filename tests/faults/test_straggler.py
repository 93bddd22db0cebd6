"""On 2 CPU ranks (gloo, real DeepSpeed ZeRO-2, fp32): rank 1 is slowed artificially (every forward pass sleeps
60 ms) and its own loss is made NaN at one step. The run names rank 1 and its host as a straggler — not rank 0,
which waits for it — in incidents.jsonl and in the metrics, and names rank 1 as the rank whose loss was
non-finite; the step times rode in the step statistics all-reduce (the loop's one collective per step is
counted by tests/trainer/test_training_loop.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.rank_faults import PLUGIN, RANK_FAULTS_ENV
from tests.faults.two_rank_run import two_rank_training

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NAN_STEP = 5
WINDOW_STEPS, WINDOWS = 2, 2


def test_a_slowed_rank_is_reported_as_the_straggler_with_its_host(tmp_path):
    run_dir = tmp_path / "run"
    command = two_rank_training(
        tmp_path, run_dir, 8, "train.spike_sigma=0", "train.straggler.fraction=0.2",
        f"train.straggler.window_steps={WINDOW_STEPS}", f"train.straggler.windows={WINDOWS}")
    env = {**os.environ, "BAICHUAN_TRAINER_PLUGINS": PLUGIN, "PYTHONPATH": str(REPO),
           RANK_FAULTS_ENV: json.dumps({"rank": 1, "slow_forward_s": 0.06, "nan_loss_steps": [NAN_STEP]})}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    incidents = [json.loads(line) for line in (run_dir / "incidents.jsonl").read_text().splitlines()]
    stragglers = [i for i in incidents if i["kind"] == "straggler"]
    # Step N's packet carries step N-1's times, and step 1 (start-up) is not timed: the first timed step is 3, so
    # windows close at steps 4, 6, 8; slow in the first two -> reported at step 6, once for the streak.
    assert [(i["rank"], i["step"], i["windows"]) for i in stragglers] == [(1, 2 + WINDOW_STEPS * WINDOWS, WINDOWS)]
    [slow] = stragglers
    assert slow["host"] == socket.gethostname() and slow["source"] == "trainer"
    assert slow["ratio"] > 1.2 and slow["compute_s"] >= 0.06 > slow["median_s"]

    [skipped] = [i for i in incidents if i["kind"] == "skipped_step"]
    assert (skipped["step"], skipped["reason"], skipped["rank"], skipped["ranks"]) == (NAN_STEP, "nonfinite_loss", 1, [1])
    # Rank 1's NaN reached both ranks' ZeRO-2 gradient partitions through the reduction: the loss names the source.
    assert skipped["loss_ranks"] == [1] and skipped["grad_ranks"] == [0, 1]
    assert skipped["hosts"] == [socket.gethostname()]

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    windows = [r for r in records if "straggler/slowest_rank" in r]
    assert [r["step"] for r in windows] == [4, 6, 8]
    assert all(r["straggler/slowest_rank"] == 1 and r["straggler/slowest_ratio"] > 1.2 for r in windows)
    # Waiting for the slow rank lands in the synchronised part of the step, not in rank 0's compute time.
    assert all(r["rank_step_s/median"] >= 0.06 for r in windows)

    timeline = subprocess.run([sys.executable, "-m", "launch.incidents", str(run_dir)], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert timeline.returncode == 0, timeline.stderr
    assert f"straggler rank 1 on {socket.gethostname()}" in timeline.stdout
    assert f"skipped step {NAN_STEP}: nonfinite_loss; non-finite on ranks [1]" in timeline.stdout
