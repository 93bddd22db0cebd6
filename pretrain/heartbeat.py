"""Per-rank heartbeat files: the trainer writes them, the supervisor (`launch.run`) watches them.

This module owns the format. When the environment variable `BAICHUAN_HEARTBEAT_DIR` is set, every rank
writes `$BAICHUAN_HEARTBEAT_DIR/rank<RANK>.json`::

    {"step": 42, "time": 1764370000.12, "pid": 1234, "rank": 0, "world_size": 16, "host": "node01",
     "start_step": 40, "start_time": 1764369990.5, "first_step_time": 1764369991.7, "done": false,
     "checkpoint_dir": "/runs/a/checkpoints", "metrics_file": "/runs/a/metrics.jsonl",
     "phase": "backward", "phase_time": 1764370000.05, "error": null}

`step` is the last completed optimizer step, `time` the rank's wall clock (seconds since the epoch),
`world_size` the number of ranks (from `WORLD_SIZE`; it lets the supervisor name a rank that never beat),
`start_step`/`start_time` the step this process started from (the resumed step) and when it said so,
`first_step_time` when it completed its first step past `start_step` (null until then), `done` true once
training finished. `checkpoint_dir` and `metrics_file` (absolute, null when not given) name the run's other
traces of progress: beats are rate-limited, so after a failure the newest committed checkpoint or the last
metrics record can be ahead of the last beat, and the supervisor reads those too (launch/progress.py).
`phase` is what the rank was doing in step `step + 1` when the record was written (data, forward, backward,
reduce — the step statistics all-reduce —, optimizer, save, callbacks; null before the first), `phase_time` when
it entered it; `error` the text of the exception the rank died of (a gloo/NCCL error message, for one), null
while it lives. A hang therefore says where each rank stopped: the phase it sits in and since when.

How the trainer uses it::

    heartbeat = Heartbeat.from_env()      # once, after distributed init (RANK is read from the environment)
    heartbeat.beat(resumed_step)          # once at start-up, after the checkpoint is loaded
    ...
    heartbeat.phase("forward")            # on entering a phase: an attribute store, no I/O
    heartbeat.beat(step)                  # after every optimizer step; cheap, rate-limited
    heartbeat.fail(exc)                   # dying of an exception: its text, written at once
    heartbeat.finish(step)                # at a clean end, so a rank that exits early is not taken for hung

Writes are atomic (temporary file + rename), so a reader never sees half a file. A beat costs one small
file write at most every `min_interval_s`; the first beat and the first completed step after it are always
written, so the supervisor can time a restart exactly. With the variable unset every call is a no-op.

Phases cost the training path no I/O and no synchronisation: `phase()` stores a tuple, and a daemon thread
(started by the first `phase()`) writes the record when the phase or step changed and nothing was written for
`min_interval_s`. A rank that hangs is therefore written once more, with the phase it hangs in, and then goes
stale as before: the supervisor's staleness clock is unchanged. A rank stopped whole (SIGSTOP) keeps its last
written phase, which is at most `min_interval_s` old.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from plumbing.atomic_write import atomic_write_text

HEARTBEAT_DIR_ENV = "BAICHUAN_HEARTBEAT_DIR"
# The phases of a step in the order a rank passes them: among ranks stuck in the same step, the one in the
# earliest phase holds the others up (they wait for it in a collective of a later phase).
PHASES = ("data", "forward", "backward", "reduce", "optimizer", "callbacks", "save")
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
    phase: str | None = None  # what the rank was doing in step `step + 1` (see the module docstring)
    phase_time: float | None = None  # when it entered that phase (epoch seconds, the rank's clock)
    error: str | None = None  # the exception the rank died of, when it could say


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
        # (phase, entered at): replaced whole by phase(), so the writer thread never sees half an update.
        self._phase: tuple[str | None, float | None] = (None, None)
        self._step: int | None = None  # the last step handed to beat()
        self._written: tuple | None = None  # (step, phase) of the last write
        self._error: str | None = None
        self._done = False
        self._lock = threading.Lock()  # one writer at a time: the loop's beats and the phase thread
        self._phase_thread: threading.Thread | None = None

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

    def phase(self, name: str) -> None:
        """The rank enters `name` (of step `step + 1`). No I/O here: the phase thread writes it if it lasts."""
        if self.directory is None:
            return
        self._phase = (name, time.time())
        if self._phase_thread is None and self._step is not None:
            self._phase_thread = threading.Thread(target=self._write_lasting_phases, name="heartbeat-phase",
                                                  daemon=True)
            self._phase_thread.start()

    def fail(self, error: BaseException | str) -> None:
        """The rank is dying of `error`: its text goes into the record at once (the supervisor names it)."""
        if self.directory is None or self._step is None:
            return
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._error = " ".join(text.split())[:2000]  # one line; NCCL messages can be long
        with self._lock:
            self._write(self._step, done=False)

    def _write_lasting_phases(self) -> None:
        while not self._done:
            time.sleep(self.min_interval_s)
            with self._lock:
                if self._done or self._step is None:
                    continue
                now = self._clock()
                quiet = self._last_write is None or now - self._last_write >= self.min_interval_s
                if quiet and (self._step, self._phase[0]) != self._written:
                    self._write(self._step, done=False)
                    self._last_write = now

    def beat(self, step: int, *, force: bool = False) -> bool:
        """Record that `step` completed; returns whether a file was written."""
        if self.directory is None:
            return False
        with self._lock:
            return self._beat(step, force)

    def _beat(self, step: int, force: bool) -> bool:
        self._step = step
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
        with self._lock:
            self._done = True
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
            "phase": self._phase[0],
            "phase_time": self._phase[1],
            "error": self._error,
        }
        self._written = (int(step), self._phase[0])
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
                phase=_optional_str(raw.get("phase")),
                phase_time=_optional_float(raw.get("phase_time")),
                error=_optional_str(raw.get("error")),
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
