"""`incidents.jsonl`: one JSON object per line for every failure the supervisor handled.

The trainer's loss guard appends its own records to the same file; `source` tells them apart.
A supervisor record is written once it is complete — when the restarted attempt completes its first new
step — or, if that never happens, when the next attempt fails or the supervisor exits (unknown fields null).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

INCIDENTS_ENV = "BAICHUAN_INCIDENTS"
RUN_DIR_ENV = "BAICHUAN_RUN_DIR"


def default_incidents_path(environ=os.environ) -> Path:
    run_dir = environ.get(RUN_DIR_ENV)
    return Path(run_dir) / "incidents.jsonl" if run_dir else Path("incidents.jsonl")


@dataclass
class Incident:
    cause: str  # "exit" (the launcher exited non-zero) or "hang" (stale heartbeat / no start-up beat)
    attempt: int  # 1-based number of the attempt that failed
    detected_at: float  # wall time (epoch seconds) the supervisor noticed
    exit_code: int | None = None  # the launcher's exit code ("exit"), None for a hang
    rank: int | None = None  # the rank that died or went silent first, when known
    last_step: int | None = None  # furthest step any rank reported before the failure
    resumed_step: int | None = None  # the step the next attempt started from
    steps_lost: int | None = None  # last_step - resumed_step
    time_to_recover_s: float | None = None  # detection → first completed step of the next attempt
    # Where the recovery time went, in seconds (each None until known):
    #   teardown_s: detection → whole process group gone;  backoff_s: the wait before restarting;
    #   startup_s: restart → first start-up heartbeat (process start, distributed init, checkpoint load);
    #   first_step_s: start-up heartbeat → first completed step.
    phases: dict[str, float | None] = field(default_factory=dict)
    gave_up: bool = False
    detail: str = ""
    source: str = "supervisor"

    def to_json(self) -> str:
        record = asdict(self)
        record["time"] = datetime.fromtimestamp(self.detected_at, tz=timezone.utc).isoformat(timespec="milliseconds")
        return json.dumps(record, sort_keys=True)


class IncidentLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, incident: Incident) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write of a short line with O_APPEND: concurrent writers (the trainer's loss guard) never
        # interleave inside a line.
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(incident.to_json() + "\n")


def read_incidents(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
