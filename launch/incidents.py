"""The supervisor's records in `incidents.jsonl` (format and writer: pretrain/incidents.py, shared with the
trainer's loss guard; `source` tells them apart): one `kind: "failure"` record per failure handled.
A supervisor record is written once it is complete — when the restarted attempt completes its first new
step — or, if that never happens, when the next attempt fails or the supervisor exits (unknown fields null).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pretrain.incidents import INCIDENTS_FILE, append_incident, read_incidents

__all__ = ["INCIDENTS_ENV", "RUN_DIR_ENV", "Incident", "IncidentLog", "default_incidents_path", "read_incidents"]

INCIDENTS_ENV = "BAICHUAN_INCIDENTS"
RUN_DIR_ENV = "BAICHUAN_RUN_DIR"


def default_incidents_path(environ=os.environ) -> Path:
    run_dir = environ.get(RUN_DIR_ENV)
    return Path(run_dir) / INCIDENTS_FILE if run_dir else Path(INCIDENTS_FILE)


@dataclass
class Incident:
    cause: str  # "exit" (the launcher exited non-zero) or "hang" (stale heartbeat / no start-up beat)
    attempt: int  # 1-based number of the attempt that failed
    detected_at: float  # wall time (epoch seconds) the supervisor noticed
    exit_code: int | None = None  # the launcher's exit code ("exit"), None for a hang
    rank: int | None = None  # the rank that died or went silent first, when known
    # The furthest step the attempt completed: the newest of its heartbeats (rate-limited, so they can lag),
    # its newest committed checkpoint and its last metrics record (launch/progress.py), after the teardown.
    last_step: int | None = None
    resumed_step: int | None = None  # the step the next attempt started from
    steps_lost: int | None = None  # last_step - resumed_step (≥ 0: the resume point is one of last_step's traces)
    time_to_recover_s: float | None = None  # detection → first completed step of the next attempt
    # Where the recovery time went, in seconds (each None until known):
    #   teardown_s: detection → whole process group gone;  backoff_s: the wait before restarting;
    #   startup_s: restart → first start-up heartbeat (process start, distributed init, checkpoint load);
    #   first_step_s: start-up heartbeat → first completed step.
    phases: dict[str, float | None] = field(default_factory=dict)
    gave_up: bool = False
    detail: str = ""
    source: str = "supervisor"


class IncidentLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, incident: Incident) -> None:
        fields = asdict(incident)
        del fields["source"]
        append_incident(self.path, incident.source, "failure", at=incident.detected_at, **fields)
