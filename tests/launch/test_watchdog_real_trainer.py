"""The watchdog against the real trainer: 2 CPU ranks (DeepSpeed ZeRO-2, tiny model), one SIGSTOPped."""

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from bench.bench_recovery import launcher_command, write_random_shards
from launch.incidents import read_incidents
from launch.supervisor import Supervisor, SupervisorConfig
from pretrain.heartbeat import read_heartbeats


def _stop_rank_at(heartbeats: Path, rank: int, step: int, stopped: dict) -> None:
    def watch():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            beat = read_heartbeats(heartbeats).get(rank)
            if beat is not None and beat.step >= step:
                os.kill(beat.pid, signal.SIGSTOP)
                stopped.update(pid=beat.pid, step=beat.step)
                return
            time.sleep(0.02)

    threading.Thread(target=watch, daemon=True).start()


@pytest.mark.slow
@pytest.mark.integration
def test_sigstop_one_rank_restarts_within_the_timeout_and_finishes(tmp_path):
    write_random_shards(tmp_path)
    command = [*launcher_command("deepspeed"), "model=tiny", "deepspeed=zero2", "data=demo",
               f"logging.run_dir={tmp_path / 'run'}", "train.max_steps=8", "train.save_interval=2",
               "train.log_interval=1"]
    config = SupervisorConfig(incidents_path=tmp_path / "incidents.jsonl", heartbeat_dir=tmp_path / "heartbeats",
                              max_restarts=1, heartbeat_timeout_s=15.0, startup_timeout_s=600.0, backoff_s=0.5,
                              kill_grace_s=10.0, poll_interval_s=0.25)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAICHUAN_")}
    env["BAICHUAN_DEMO_DIR"] = str(tmp_path)
    stopped: dict = {}
    _stop_rank_at(tmp_path / "heartbeats" / "attempt-1", rank=1, step=3, stopped=stopped)

    assert Supervisor(command, config, environ=env).run() == 0

    [incident] = [i for i in read_incidents(tmp_path / "incidents.jsonl") if i["source"] == "supervisor"]
    assert incident["cause"] == "hang" and incident["rank"] == 1
    assert float(incident["detail"].split("silent for ")[1].split(" s")[0]) >= 15.0
    # Woken by the teardown's SIGCONT + SIGTERM the job may checkpoint on its way out, so it resumes from the
    # last periodic checkpoint or from that one.
    assert 2 <= incident["resumed_step"] <= incident["last_step"]
    assert incident["steps_lost"] == incident["last_step"] - incident["resumed_step"]
    assert incident["time_to_recover_s"] > 0
    assert not psutil.pid_exists(stopped["pid"]) or psutil.Process(stopped["pid"]).status() == "zombie"
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))  # finished, every step logged once across the restart
    assert socket.gethostname() in {b.host for b in read_heartbeats(tmp_path / "heartbeats" / "attempt-2").values()}
