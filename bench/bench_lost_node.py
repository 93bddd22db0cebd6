"""Recovery time after a lost node: two torchrun agents ("nodes", one CPU rank each) on one elastic c10d
rendezvous under `launch.run`; one agent's whole process tree is SIGKILLed after a checkpoint and the other
goes on alone at world size 1 through the universal checkpoint.

    python -m bench.bench_lost_node [--kill-after-step 2] [--max-steps 6]

Phases (wall clock):
  detect       SIGKILL → the supervisor notices (the rank's process gone, at its next poll)
  relaunch     detection → the surviving agent's new worker process exists (the old worker's collective fails,
               the agent restarts its workers, one rendezvous round with last_call_timeout=5 s)
  start+load   new worker → its start-up heartbeat: imports, distributed init, rank 0's universal conversion of
               the 2-rank checkpoint (printed separately), checkpoint load
  first step   start-up heartbeat → first completed step on the smaller world
Reference (same run): the cold start of the 2-node world (supervisor launch → first completed step).
The training data are random token ids in the demo's shard format (bench/bench_recovery.py writes them).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil

from bench.bench_recovery import wait_for, write_random_shards
from launch.incidents import read_incidents
from pretrain.distributed.session import free_port
from pretrain.heartbeat import read_heartbeats

REPO = Path(__file__).resolve().parents[1]
LOCAL_NODES = REPO / "tests" / "launch" / "local_nodes.py"


def _newest_child_after(pid: int, after: float) -> float | None:
    """Creation time of a child of `pid` started after `after` (the agent's restarted worker), or None."""
    try:
        times = [c.create_time() for c in psutil.Process(pid).children() if c.create_time() > after]
    except psutil.Error:
        return None
    return min(times, default=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_lost_node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kill-after-step", type=int, default=2, help="kill node 1 once this checkpoint is committed")
    parser.add_argument("--max-steps", type=int, default=6)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-lost-node-"))
    write_random_shards(work)
    (work / "pids").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAICHUAN_")}
    env.update(BAICHUAN_DEMO_DIR=str(work), OMP_NUM_THREADS="1")
    run_dir = work / "run"
    command = [sys.executable, "-m", "launch.run", "--poll-interval", "0.2", "--max-restarts", "1",
               "--incidents", str(work / "incidents.jsonl"), "--heartbeat-dir", str(work / "beats"), "--",
               sys.executable, str(LOCAL_NODES), "--nodes", "2", "--pid-dir", str(work / "pids"), "--",
               str(Path(sys.executable).with_name("torchrun")), "--nnodes", "1:2", "--nproc-per-node", "1",
               "--max-restarts", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}",
               "--rdzv-id", "bench", "-m", "pretrain.train", "model=tiny", "data=demo", f"logging.run_dir={run_dir}",
               "train.micro_batch_size=4", "train.global_batch_size=8", "train.seq_len=64", "train.precision=fp32",
               f"train.max_steps={args.max_steps}", f"train.save_interval={args.kill_after_step}"]
    launched = time.time()
    log = open(work / "supervisor.log", "w")
    supervisor = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    beats = work / "beats" / "attempt-1"
    cold_first_step = wait_for(lambda: min((r.first_step_time for r in read_heartbeats(beats).values()
                                            if r.first_step_time), default=None), 600, "the first step", supervisor)
    checkpoint = f"step_{args.kill_after_step:08d}"
    latest = run_dir / "checkpoints" / "latest"
    wait_for(lambda: latest.is_file() and latest.read_text().strip() == checkpoint, 600, checkpoint, supervisor)
    survivor = int((work / "pids" / "node0.pid").read_text())
    victim = psutil.Process(int((work / "pids" / "node1.pid").read_text()))
    tree = [victim, *victim.children(recursive=True)]
    killed = time.time()
    for proc in tree:
        proc.send_signal(signal.SIGKILL)
    worker_started = wait_for(lambda: _newest_child_after(survivor, killed), 600, "the restarted worker", supervisor)
    code = supervisor.wait(timeout=900)
    log.close()
    if code != 0:
        raise SystemExit(f"error: the run failed ({code}); see {work / 'supervisor.log'}")
    (incident,) = [i for i in read_incidents(work / "incidents.jsonl") if i.get("kind") == "failure"]
    detected = incident["detected_at"]
    start_beat = detected + incident["phases"]["startup_s"]
    # From rank 0's "converting ... to a universal checkpoint" line (local time) to the conversion's marker.
    started = next(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                   for line in (work / "supervisor.log").read_text(errors="replace").splitlines()
                   if "to a universal checkpoint" in line and line[:4].isdigit())
    done = (run_dir / "checkpoints" / checkpoint / "deepspeed_universal" / ".complete").stat().st_mtime
    conversion = done - started
    size = sum(p.stat().st_size for p in (run_dir / "checkpoints" / checkpoint / "deepspeed").rglob("*") if p.is_file())
    result = {
        "detect_s": round(detected - killed, 2),
        "relaunch_s": round(worker_started - detected, 2),
        "start_and_load_s": round(start_beat - worker_started, 2),
        "universal_conversion_s": round(conversion, 2),
        "first_step_s": incident["phases"]["first_step_s"],
        "kill_to_first_resumed_step_s": round(detected - killed + incident["time_to_recover_s"], 2),
        "cold_start_to_first_step_s": round(cold_first_step - launched, 2),
        "resumed_step": incident["resumed_step"], "steps_lost": incident["steps_lost"],
        "checkpoint_bytes": size, "cause": incident["cause"],
    }
    result["recovery_over_cold_start"] = round(result["kill_to_first_resumed_step_s"] / result["cold_start_to_first_step_s"], 2)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
