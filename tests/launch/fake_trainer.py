"""A stand-in for `pretrain.train` that the supervisor tests launch: it beats real heartbeats and can fail.

Arguments are Hydra-style `key=value` overrides:
  state=PATH        its "checkpoint": the last saved step, written every `ckpt_every` steps
  steps=N           finish (exit 0) after step N
  ckpt_every=K      save every K steps (default 1)
  crash_at=K        exit 3 right after step K
  hang_at=K         sleep forever right after step K
  fail_attempts=N   crash/hang only in the supervisor's attempts 1..N (default: every attempt)
  step_time=S       seconds per step (default 0.02)
  beat_every=K      in the attempts that may fail, beat only every K steps (a rate-limited heartbeat that lags)
  run_dir=PATH      also leave the real trainer's other traces: a committed `checkpoints/step_NNNNNNNN`
                    directory per save and a `metrics.jsonl` record per step, both named in the heartbeat
  argv_log=PATH     append this attempt's arguments as one JSON line
  train.resume=auto resume from `state` when it exists
On SIGTERM it "saves" (writes `<state>.sigterm` with the step) and exits 0, like the real trainer.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

from pretrain.heartbeat import Heartbeat


def save(state: Path, step: int, run_dir: Path | None) -> None:
    """Atomically, like a real checkpoint: a SIGTERM mid-write must not leave an empty state behind."""
    temporary = state.with_name(state.name + ".tmp")
    temporary.write_text(str(step))
    os.replace(temporary, state)
    if run_dir is not None:
        (run_dir / "checkpoints" / f"step_{step:08d}").mkdir(parents=True, exist_ok=True)


def main() -> int:
    args = dict(arg.split("=", 1) for arg in sys.argv[1:])
    state = Path(args["state"])
    steps = int(args.get("steps", 10))
    ckpt_every = int(args.get("ckpt_every", 1))
    step_time = float(args.get("step_time", 0.02))
    attempt = int(os.environ.get("BAICHUAN_ATTEMPT", "1"))
    may_fail = attempt <= int(args.get("fail_attempts", 1 << 30))
    if "argv_log" in args:
        with open(args["argv_log"], "a") as log:
            log.write(json.dumps({"argv": sys.argv[1:], "attempt": os.environ.get("BAICHUAN_ATTEMPT")}) + "\n")

    step = int(state.read_text()) if args.get("train.resume") == "auto" and state.exists() else 0
    current = {"step": step}

    def on_sigterm(_signum, _frame):
        Path(f"{state}.sigterm").write_text(str(current["step"]))
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    run_dir = Path(args["run_dir"]) if "run_dir" in args else None
    beat_every = int(args.get("beat_every", 1)) if may_fail else 1
    traces = {"checkpoint_dir": run_dir / "checkpoints", "metrics_file": run_dir / "metrics.jsonl"} if run_dir else {}
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    heartbeat = Heartbeat.from_env(**traces)
    heartbeat.beat(step, force=True)
    while step < steps:
        time.sleep(step_time)
        step += 1
        current["step"] = step
        if run_dir is not None:
            with open(run_dir / "metrics.jsonl", "a") as metrics:
                metrics.write(json.dumps({"step": step, "loss": 1.0}) + "\n")
        if step % ckpt_every == 0:
            save(state, step, run_dir)
        if step % beat_every == 0:
            heartbeat.beat(step, force=True)
        if may_fail and step == int(args.get("crash_at", -1)):
            return 3
        if may_fail and step == int(args.get("hang_at", -1)):
            while True:
                time.sleep(3600)
    save(state, step, run_dir)  # the final checkpoint
    heartbeat.finish(step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
