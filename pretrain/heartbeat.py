"""Per-rank heartbeat files: the trainer writes them, the supervisor (`launch.run`) watches them.

This module owns the format. When the environment variable `BAICHUAN_HEARTBEAT_DIR` is set, every rank
writes `$BAICHUAN_HEARTBEAT_DIR/rank<RANK>.json`::

    {"step": 42, "time": 1764370000.12, "pid": 1234, "rank": 0, "world_size": 16, "host": "node01",
     "start_step": 40, "start_time": 1764369990.5, "first_step_time": 1764369991.7, "done": false,
     "checkpoint_dir": "/runs/a/checkpoints", "metrics_file": "/runs/a/metrics.jsonl"}

`step` is the last completed optimizer step, `time` the rank's wall clock (seconds since the epoch),
`world_size` the number of ranks (from `WORLD_SIZE`; it lets the supervisor name a rank that never beat),
`start_step`/`start_time` the step this process started from (the resumed step) and when it said so,
`first_step_time` when it completed its first step past `start_step` (null until then), `done` true once
training finished. `checkpoint_dir` and `metrics_file` (absolute, null when not given) name the run's other
traces of progress: beats are rate-limited, so after a failure the newest committed checkpoint or the last
metrics record can be ahead of the last beat, and the supervisor reads those too (launch/progress.py).

How the trainer uses it::

    heartbeat = Heartbeat.from_env()      # once, after distributed init (RANK is read from the environment)
    heartbeat.beat(resumed_step)          # once at start-up, after the checkpoint is loaded
    ...
    heartbeat.beat(step)                  # after every optimizer step; cheap, rate-limited
    heartbeat.finish(step)                # at a clean end, so a rank that exits early is not taken for hung

Writes are atomic (temporary file + rename), so a reader never sees half a file. A beat costs one small
file write at most every `min_interval_s`; the first beat and the first completed step after it are always
written, so the supervisor can time a restart exactly. With the variable unset every call is a no-op.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from plumbing.atomic_write import atomic_write_text

HEARTBEAT_DIR_ENV = "BAICHUAN_HEARTBEAT_DIR"
FILE_PREFIX = "rank"
FILE_SUFFIX = ".json"


@dataclass(frozen=True)
class HeartbeatRecord:
    """One rank's latest heartbeat as read back from disk."""

    rank: int
    step: int
    time: float
    pid: int
    host: str
    start_step: int
    start_time: float
    world_size: int = 1
    first_step_time: float | None = None
    done: bool = False
    checkpoint_dir: str | None = None  # where the run commits checkpoints (absolute)
    metrics_file: str | None = None  # the run's metrics JSONL (absolute; rank 0 writes it)


def heartbeat_path(directory: Path, rank: int) -> Path:
    return directory / f"{FILE_PREFIX}{rank}{FILE_SUFFIX}"


class Heartbeat:
    """Writes this rank's heartbeat file; a no-op when `directory` is None."""

    def __init__(
        self,
        directory: Path | None,
        rank: int = 0,
        world_size: int = 1,
        min_interval_s: float = 0.5,
        clock=time.monotonic,
        checkpoint_dir: Path | None = None,
        metrics_file: Path | None = None,
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        # Absolute: the supervisor may run elsewhere than the ranks' working directory.
        self._traces = {"checkpoint_dir": _absolute(checkpoint_dir), "metrics_file": _absolute(metrics_file)}
        self.rank = rank
        self.world_size = world_size
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._last_write: float | None = None
        self._start_step: int | None = None
        self._start_time: float | None = None
        self._first_step_time: float | None = None
        self._directory_ready = False
        self._host = socket.gethostname()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, checkpoint_dir: Path | None = None,
                 metrics_file: Path | None = None) -> Heartbeat:
        directory = environ.get(HEARTBEAT_DIR_ENV) or None
        return cls(Path(directory) if directory else None, rank=int(environ.get("RANK", "0")),
                   world_size=int(environ.get("WORLD_SIZE", "1")), checkpoint_dir=checkpoint_dir,
                   metrics_file=metrics_file)

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def beat(self, step: int, *, force: bool = False) -> bool:
        """Record that `step` completed; returns whether a file was written."""
        if self.directory is None:
            return False
        now = self._clock()
        if self._start_step is None:
            self._start_step, self._start_time = step, time.time()
        # The start-up beat and the first step after it are always written: the supervisor times
        # "restart → checkpoint loaded → first new step" from exactly these two.
        first_progress = step > self._start_step and self._first_step_time is None
        if first_progress:
            self._first_step_time = time.time()
        due = self._last_write is None or now - self._last_write >= self.min_interval_s
        if not (force or first_progress or due):
            return False
        self._write(step, done=False)
        self._last_write = now
        return True

    def finish(self, step: int) -> None:
        """Mark this rank as finished cleanly (the supervisor stops watching it)."""
        if self.directory is None:
            return
        if self._start_step is None:
            self._start_step, self._start_time = step, time.time()
        self._write(step, done=True)

    def _write(self, step: int, done: bool) -> None:
        assert self.directory is not None and self._start_step is not None and self._start_time is not None
        record = {
            "step": int(step),
            "time": time.time(),
            "pid": os.getpid(),
            "rank": self.rank,
            "world_size": self.world_size,
            "host": self._host,
            "start_step": int(self._start_step),
            "start_time": self._start_time,
            "first_step_time": self._first_step_time,
            "done": done,
            **self._traces,
        }
        if not self._directory_ready:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._directory_ready = True
        # Atomic: the supervisor reads the old or the new record, never half of one.
        atomic_write_text(heartbeat_path(self.directory, self.rank), json.dumps(record))


def read_heartbeats(directory: Path) -> dict[int, HeartbeatRecord]:
    """Every rank's latest heartbeat in `directory` (missing directory → empty; unreadable files skipped)."""
    records: dict[int, HeartbeatRecord] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return records
    for entry in entries:
        name = entry.name
        if not (name.startswith(FILE_PREFIX) and name.endswith(FILE_SUFFIX)):
            continue
        try:
            raw = json.loads(Path(entry.path).read_text())
            record = HeartbeatRecord(
                rank=int(raw["rank"]),
                step=int(raw["step"]),
                time=float(raw["time"]),
                pid=int(raw["pid"]),
                host=str(raw.get("host", "")),
                start_step=int(raw.get("start_step", raw["step"])),
                start_time=float(raw.get("start_time", raw["time"])),
                first_step_time=_optional_float(raw.get("first_step_time")),
                world_size=int(raw.get("world_size", 1)),
                done=bool(raw.get("done", False)),
                checkpoint_dir=_optional_str(raw.get("checkpoint_dir")),
                metrics_file=_optional_str(raw.get("metrics_file")),
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # vanished between listing and reading, or not ours: the next poll reads it again
        records[record.rank] = record
    return records


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


def _optional_str(value) -> str | None:
    return None if value is None else str(value)


def _absolute(path: Path | str | None) -> str | None:
    return None if path is None else os.path.abspath(path)
