"""Read an offline wandb run through wandb's own reader, `wandb leet inspect --json`.

Not through the run file's bytes: the `.wandb` transaction log is wandb's private format and is filled by
wandb's separate writer process (wandb-core), so a hand-written parser breaks with a new wandb release and a
read right after the run closes can race the writer. `leet inspect` is wandb's documented command for reading
such a log, one JSON object per record; a run is complete once its `exit` record is there, so we wait for that
record — a condition, not a sleep — with a bound that only a real defect can reach.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

WANDB = Path(sys.executable).with_name("wandb")  # the CLI of the wandb the tests import


def inspect_records(run: Path) -> list[dict]:
    """Every record of the run's log as wandb's CLI prints it (`{"num", "type", <type>: {...}}`)."""
    result = subprocess.run([str(WANDB), "leet", "inspect", "--json", str(run)], capture_output=True, text=True,
                            timeout=120, check=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def read_run(run: Path, wait_s: float = 60.0) -> tuple[list[dict], dict]:
    """(history rows as {key: value}, run config as {key: value}) of a finished offline run."""
    deadline = time.monotonic() + wait_s
    while True:
        records = inspect_records(run)
        if any(record["type"] == "exit" for record in records) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any(record["type"] == "exit" for record in records), f"{run}: no exit record after {wait_s:.0f} s"
    history, config = [], {}
    for record in records:
        if record["type"] == "history":
            history.append(record["history"]["item"])
        elif record["type"] in ("run", "config"):
            body = record[record["type"]]
            config.update((body.get("config") or body).get("update", {}))
    return history, config
