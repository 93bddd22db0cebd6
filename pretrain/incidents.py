"""`incidents.jsonl`: one JSON object per line for every thing that went wrong in a run and what was done.

This module owns the format; the trainer (loss guard: skipped steps, rollbacks) and the supervisor
(`launch.run`: crashes, hangs, restarts) both append through `append_incident`, so one file in the run
directory tells the story of a run. Every record has

    time    ISO-8601 UTC with milliseconds, when it happened ("2026-12-05T12:00:00.123+00:00")
    source  "trainer" or "supervisor"
    kind    what the record is: "skipped_step", "rollback" (trainer), "failure" (supervisor)

and the fields of its kind (step, reason, ... — see the writer). Like the heartbeat files, it imports nothing
heavy: the supervisor reads it without torch.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

INCIDENTS_FILE = "incidents.jsonl"
# A supervisor failure's cause when a node was lost under elastic torchrun: its agents re-form the world themselves.
NODE_LOST = "node_lost"


def append_incident(path: str | Path, source: str, kind: str, at: float | None = None, **fields) -> dict:
    """Append one record (`at`: when it happened, epoch seconds; now by default) and fsync it."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, tz=timezone.utc)
    record = {"time": moment.isoformat(timespec="milliseconds"), "source": source, "kind": kind, **fields}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write() of one line with O_APPEND: concurrent writers (trainer rank 0, supervisor) never interleave
    # within a record.
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return record


def read_incidents(path: str | Path) -> list[dict]:
    """Every record of an incidents file (none when it does not exist), skipping unreadable lines."""
    return read_incidents_counting(path)[0]


def read_incidents_counting(path: str | Path) -> tuple[list[dict], int]:
    """(records, number of unreadable lines). A line that is not a JSON object — the torn last append of a
    process killed mid-write, or a file that is not an incidents file — is skipped and counted, never fatal:
    the record of a failure must stay readable after the failure."""
    path = Path(path)
    if not path.exists():
        return [], 0
    records, unreadable = [], 0
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            unreadable += 1
    return records, unreadable
