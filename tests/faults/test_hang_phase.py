"""A live hang on real ranks (2 CPU ranks, gloo, DeepSpeed ZeRO-2, fp32, under `python -m launch.run`): rank 1
blocks inside the forward pass of step 4 while its process stays alive. The supervisor's incident names rank 1,
its host, the phase (forward) and step (4) it stopped in, and both ranks as silent — rank 0 waits for it in
backward's gradient reduction, a later phase of the same step, which is how the culprit is told apart."""

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


def test_a_rank_hung_in_its_forward_is_named_with_host_phase_and_step(tmp_path):
    run_dir = tmp_path / "run"
    launcher = two_rank_training(tmp_path, run_dir, 6)
    command = [sys.executable, "-m", "launch.run", "--max-restarts", "0", "--poll-interval", "0.2",
               "--heartbeat-timeout", "10", "--kill-grace", "2", "--incidents", str(tmp_path / "incidents.jsonl"),
               "--heartbeat-dir", str(tmp_path / "beats"), "--", *launcher]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BAICHUAN_")},
           "BAICHUAN_TRAINER_PLUGINS": PLUGIN, "PYTHONPATH": str(REPO),
           RANK_FAULTS_ENV: json.dumps({"rank": 1, "hang_forward_step": 4})}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 1, result.stderr[-3000:]  # gave up: --max-restarts 0

    [incident] = [json.loads(line) for line in (tmp_path / "incidents.jsonl").read_text().splitlines()]
    assert incident["cause"] == "hang" and incident["gave_up"]
    assert (incident["rank"], incident["host"], incident["phase"], incident["rank_step"]) == (
        1, socket.gethostname(), "forward", 3)
    assert incident["ranks"] == [0, 1]
    assert f"rank 1 on {socket.gethostname()} in forward of step 4" in incident["detail"]
    # The peer is seen waiting for it: rank 0's last beat says backward (the gradient reduction) of step 4.
    beats = {json.loads(p.read_text())["rank"]: json.loads(p.read_text()) for p in (tmp_path / "beats").rglob("rank*.json")}
    assert (beats[0]["step"], beats[0]["phase"]) == (3, "backward")
