"""The supervisor's records in `incidents.jsonl` (format and writer: pretrain/incidents.py, shared with the
trainer's loss guard; `source` tells them apart): one `kind: "failure"` record per failure handled.
A supervisor record is written once it is complete — when the restarted attempt completes its first new
step — or, if that never happens, when the next attempt fails or the supervisor exits (unknown fields null).

`localize(incident, monitor)` names where it broke from the attempt's heartbeats (pretrain/heartbeat.py): the
host and rank, the phase the rank was in (forward, backward, reduce, optimizer, save, ...) of which step, every
rank that went silent (a hang), the exception text the rank wrote as it died (a gloo/NCCL error, for one) and
the signal an exit code stands for. `python -m launch.incidents RUN_DIR` prints the run's timeline
(launch/incident_timeline.py).
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from launch.heartbeat_monitor import HeartbeatMonitor
from pretrain.incidents import INCIDENTS_FILE, append_incident, read_incidents

__all__ = ["INCIDENTS_ENV", "RUN_DIR_ENV", "Incident", "IncidentLog", "default_incidents_path", "exit_signal",
           "localize", "read_incidents"]

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
    # Where it broke (localize(); None when the beats cannot say):
    host: str | None = None  # the host of `rank`
    phase: str | None = None  # what `rank` was doing in step `rank_step + 1` (forward, backward, reduce, ...)
    rank_step: int | None = None  # the last step `rank` completed
    ranks: list[int] = field(default_factory=list)  # the silent ranks of a hang, the vanished ranks of an exit
    error: str | None = None  # the exception text the rank wrote as it died (gloo/NCCL errors, OOM, ...)
    signal: str | None = None  # the signal the launcher's exit code stands for (SIGKILL, SIGSEGV, ...)
    failed_at: float | None = None  # `rank`'s last sign of life (epoch s): detected_at - failed_at ≥ detection time
    dropped_nodes: list[str] = field(default_factory=list)  # hosts the relaunch leaves out (a lost node)


class IncidentLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, incident: Incident) -> None:
        fields = asdict(incident)
        del fields["source"]
        append_incident(self.path, incident.source, "failure", at=incident.detected_at, **fields)


def exit_signal(code: int | None) -> str | None:
    """The signal a launcher's exit code stands for, if it stands for one: -N (the launcher itself died of N),
    128+N (a shell, srun, torchrun's own death) and 256-N (DeepSpeed's launcher passes a rank's -N to sys.exit)."""
    if code is None or code == 0:
        return None
    number = -code if code < 0 else code - 128 if 128 < code <= 192 else 256 - code if 192 < code < 256 else None
    try:
        return signal.Signals(number).name if number else None
    except ValueError:
        return None


def localize(incident: Incident, monitor: HeartbeatMonitor) -> None:
    """Fill host, rank, phase, step, silent or vanished ranks, error text and signal from the attempt's beats,
    and say them in `detail`. The culprit is the rank the supervisor named; when it named none, the first rank
    that wrote an exception (its peers' errors — "connection closed by peer" — come after it)."""
    records = {rank: view.record for rank, view in monitor.ranks.items()}
    stall = monitor.last_stall if incident.cause == "hang" else None
    if stall is not None:
        incident.ranks = list(stall.silent_ranks)
    elif incident.cause == "exit":
        incident.ranks = sorted(set(monitor.crashed_ranks))
    failing = {rank: r for rank, r in records.items() if r.error}
    if incident.rank is None and failing:
        incident.rank = min(failing, key=lambda rank: failing[rank].time)
    incident.signal = incident.signal or exit_signal(incident.exit_code)
    record = records.get(incident.rank) if incident.rank is not None else None
    if record is not None:
        incident.host, incident.phase, incident.rank_step = record.host or None, record.phase, record.step
        incident.error = incident.error or record.error
        incident.failed_at = max(record.time, record.phase_time or 0.0)
    elif incident.rank is None and incident.ranks:  # several vanished at once: at least the hosts
        hosts = sorted({records[r].host for r in incident.ranks if r in records})
        incident.host = ",".join(hosts) or None
    incident.detail = _where(incident)


def _where(incident: Incident) -> str:
    parts = [incident.detail] if incident.detail else []
    if incident.rank is not None:
        where = f"rank {incident.rank}"
        if incident.host:
            where += f" on {incident.host}"
        if incident.phase and incident.rank_step is not None:
            where += f" in {incident.phase} of step {incident.rank_step + 1}"
        parts.append(where)
    if incident.cause == "hang" and len(incident.ranks) > 1:
        parts.append(f"silent ranks {incident.ranks}")
    if incident.signal:
        parts.append(f"launcher exit code means {incident.signal}")
    if incident.error:
        parts.append(f"error: {incident.error[:300]}")
    elif incident.cause == "exit" and incident.rank is not None:
        parts.append("no exception recorded (a signal: SIGKILL, the OOM killer, or a native crash)")
    return "; ".join(parts)


if __name__ == "__main__":
    from launch.incident_timeline import main

    sys.exit(main())
