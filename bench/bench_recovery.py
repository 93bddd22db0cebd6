"""Recovery time: from a rank's crash to the first completed step after the supervisor restarted the job.

    python -m bench.bench_recovery [--launcher deepspeed|torchrun] [--kill-at-step 12] [--backoff 1]

Runs the real trainer (tiny model, 2 CPU ranks, DeepSpeed ZeRO-2) under `python -m launch.run`, SIGKILLs
rank 1 once it reports `--kill-at-step`, lets the supervisor restart it with `train.resume=auto`, and splits
the recovery into:

  detection   SIGKILL → the supervisor notices (a vanished rank, a launcher exit or a stale heartbeat)
  teardown    the whole process group is gone
  backoff     the supervisor's wait before relaunching (--backoff)
  launcher    relaunch → the rank-0 process exists (deepspeed's runner + launch.py, or torchrun)
  rank start  rank-0 process → its DeepSpeed engine is built (imports, distributed init, model, engine);
              taken from the trainer's "pretrain.engine.deepspeed_engine: DeepSpeed ..." log line
  resume      engine built → start-up heartbeat: checkpoint verify + load, data-loader state, RNG restore
              (the same interval of the cold start, which has no checkpoint, is printed beside it, so the
              checkpoint load alone is about the difference)
  first step  start-up heartbeat → first completed step

Reference (same run): the cold start of the first attempt (supervisor launch → first completed step), i.e.
what a by-hand relaunch costs before any time is spent noticing the failure. Printed: the breakdown, the
ratio recovery / cold start, and recovery minus resume against the issue's goal of ≤ 30 s plus load.
The training data are random token ids in the demo's shard format: recovery time does not depend on text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import psutil

from data_pipeline.formats.token_shards import TokenShardWriter, write_manifest
from launch.incidents import read_incidents
from pretrain.distributed.session import free_port
from pretrain.heartbeat import read_heartbeats

BIN = Path(sys.executable).parent


def launcher_command(launcher: str) -> list[str]:
    """Two CPU ranks of pretrain.train; a free port because other jobs on a shared host may hold 29500."""
    if launcher == "torchrun":
        return [str(BIN / "torchrun"), "--nproc-per-node", "2", "--master-port", str(free_port()),
                "-m", "pretrain.train"]
    return [str(BIN / "deepspeed"), "--no_local_rank", "--num_gpus", "2", "--master_port", str(free_port()),
            "--module", "pretrain.train"]


def write_random_shards(root: Path, vocab_size: int = 2000, eos_id: int = 2, documents: int = 400) -> None:
    """`root/shards/{zh,en}` in the demo layout (conf/data/demo.yaml reads $BAICHUAN_DEMO_DIR/shards/*)."""
    rng = np.random.default_rng(0)
    for language in ("zh", "en"):
        directory = root / "shards" / language
        with TokenShardWriter(directory, "part-00000", vocab_size=vocab_size, eos_id=eos_id) as writer:
            for _ in range(documents):
                length = int(rng.integers(50, 400))
                writer.add_document(rng.integers(3, vocab_size, size=length), source=language, language=language)
        write_manifest(directory, [writer.entry], vocab_size=vocab_size, eos_id=eos_id, tokenizer_sha256="random")


def wait_for(predicate, timeout_s: float, what: str, process: subprocess.Popen):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if process.poll() is not None:
            raise SystemExit(f"error: the supervisor exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"error: timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


@dataclass(frozen=True)
class RankTimes:
    created: float  # the rank process's creation (epoch seconds)
    start_beat: float  # its start-up heartbeat

    @classmethod
    def of_live_rank(cls, heartbeat_dir: Path, rank: int) -> RankTimes:
        record = read_heartbeats(heartbeat_dir)[rank]
        return cls(psutil.Process(record.pid).create_time(), record.start_time)


ENGINE_BUILT = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO pretrain\.engine\.deepspeed_engine: DeepSpeed")


def engine_built_times(log: Path) -> tuple[float, float]:
    """When rank 0 logged its engine as built, in attempts 1 and 2 (the trainer logs in local time)."""
    times = []
    for line in log.read_text(errors="replace").splitlines():
        match = ENGINE_BUILT.match(line)
        if match:
            times.append(datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp())
    if len(times) != 2:
        raise SystemExit(f"error: expected 2 'pretrain.engine.deepspeed_engine: DeepSpeed' log lines in {log}, found {len(times)}")
    return times[0], times[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launcher", choices=("deepspeed", "torchrun"), default="deepspeed")
    parser.add_argument("--kill-at-step", type=int, default=12)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--save-interval", type=int, default=5)
    parser.add_argument("--backoff", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    write_random_shards(work)
    heartbeats = work / "heartbeats"
    command = [
        sys.executable, "-m", "launch.run", "--max-restarts", "1", "--backoff", str(args.backoff),
        "--poll-interval", str(args.poll_interval), "--heartbeat-timeout", "120", "--startup-timeout", "600",
        "--incidents", str(work / "incidents.jsonl"), "--heartbeat-dir", str(heartbeats), "--",
        *launcher_command(args.launcher), "model=tiny", "deepspeed=zero2", "data=demo", f"logging.run_dir={work / 'run'}", f"train.max_steps={args.max_steps}",
        f"train.save_interval={args.save_interval}", "train.log_interval=1",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAICHUAN_")}
    env["BAICHUAN_DEMO_DIR"] = str(work)
    print("$ " + " ".join(command), flush=True)
    launched_at = time.time()
    log_file = open(work / "supervisor.log", "w")
    supervisor = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)

    first = heartbeats / "attempt-1"
    wait_for(lambda: len(read_heartbeats(first)) == 2, args.timeout, "both ranks' start-up beats", supervisor)
    cold = RankTimes.of_live_rank(first, 0)
    beats = wait_for(lambda: (b := read_heartbeats(first)).get(1) and b[1].step >= args.kill_at_step and b,
                     args.timeout, f"rank 1 at step {args.kill_at_step}", supervisor)
    cold_first_step = min(b.first_step_time for b in beats.values() if b.first_step_time)
    killed_at = time.time()
    os.kill(beats[1].pid, signal.SIGKILL)
    print(f"SIGKILLed rank 1 (pid {beats[1].pid}) at step {beats[1].step}", flush=True)

    second = heartbeats / "attempt-2"
    wait_for(lambda: 0 in read_heartbeats(second), args.timeout, "the restarted rank 0's start-up beat", supervisor)
    warm = RankTimes.of_live_rank(second, 0)
    try:
        code = supervisor.wait(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        supervisor.send_signal(signal.SIGTERM)
        raise SystemExit("error: the restarted training did not finish in time") from None
    if code != 0:
        raise SystemExit(f"error: supervisor exited {code}; see {work / 'supervisor.log'}")
    [incident] = [i for i in read_incidents(work / "incidents.jsonl") if i.get("source") == "supervisor"]
    cold_engine, warm_engine = engine_built_times(work / "supervisor.log")

    phases = incident["phases"]
    rows = {
        "detection": incident["detected_at"] - killed_at,
        "teardown": phases["teardown_s"],
        "backoff": phases["backoff_s"],
        "launcher": phases["startup_s"] - (warm.start_beat - warm.created),
        "rank start": warm_engine - warm.created,
        "resume": warm.start_beat - warm_engine,
        "first step": phases["first_step_s"],
    }
    total = incident["detected_at"] - killed_at + incident["time_to_recover_s"]
    cold_start = cold_first_step - launched_at
    print(json.dumps({"incident": incident}))
    print(f"\nrecovery breakdown ({args.launcher}; rank 1 killed at step {beats[1].step}, resumed at step "
          f"{incident['resumed_step']}, {incident['steps_lost']} step(s) lost):")
    for name, seconds in rows.items():
        print(f"  {name:<11} {seconds:7.2f} s")
    print(f"  {'total':<11} {total:7.2f} s   (sum of rows {sum(rows.values()):.2f} s)")
    print(f"cold start, same run: rank start {cold_engine - cold.created:.2f} s, engine → start-up beat without a "
          f"checkpoint {cold.start_beat - cold_engine:.2f} s")
    print(f"reference: cold start (launch → first step) {cold_start:.2f} s; recovery / cold start = "
          f"{total / cold_start:.2f}")
    print(f"recovery minus resume: {total - rows['resume']:.2f} s (goal: ≤ 30 s plus load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
