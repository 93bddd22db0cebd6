"""How far a failed attempt got, from every trace it leaves, for the incident record's `last_step`.

Heartbeats are rate-limited (one write per `min_interval_s` at most), so under load the last beat can lag: a
rank may complete a step, log it and commit its checkpoint, then die before beating again. Taken alone, the beat
then says 20 while the run resumes from checkpoint 21 (`steps_lost` negative, clamped to 0) or one logged step
is re-run unseen. The furthest step is therefore the newest of three traces the ranks name in their heartbeats:

- the beats themselves (any rank's `step`);
- the newest committed checkpoint: a `step_NNNNNNNN` directory, which exists only once its manifest is written
  and the save renamed into place (pretrain/checkpoint/store.py) — what `train.resume=auto` resumes from;
- the last record of the metrics JSONL (rank 0 appends one line per logged step after the step completed).

Like the heartbeat format, this imports nothing heavy: the supervisor runs without torch.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

# pretrain/checkpoint/store.py's STEP_DIR (not imported: that package needs torch); a test keeps them equal.
COMMITTED_DIR = re.compile(r"^step_(\d{8})$")
TAIL_BYTES = 1 << 16  # a metrics record is a few hundred bytes; the first of a launch a few kilobytes


def committed_step(checkpoint_dir: str | Path) -> int | None:
    """The step of the newest committed checkpoint in `checkpoint_dir` (None: none, or no such directory)."""
    try:
        names = [entry.name for entry in os.scandir(checkpoint_dir) if entry.is_dir()]
    except OSError:
        return None
    return max((int(match.group(1)) for name in names if (match := COMMITTED_DIR.match(name))), default=None)


def last_logged_step(metrics_file: str | Path) -> int | None:
    """The `step` of the last whole record of a metrics JSONL (a torn last line is skipped)."""
    try:
        with open(metrics_file, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            step = json.loads(line).get("step")
        except (ValueError, AttributeError):
            continue  # torn by the crash, or cut by the tail window
        if isinstance(step, int):
            return step
    return None


def furthest_step(heartbeat_step: int | None, checkpoint_dirs: Iterable[str],
                  metrics_files: Iterable[str]) -> int | None:
    """The newest of the last beat, the committed checkpoints and the logged metrics (None when none exists)."""
    steps = [heartbeat_step, *(committed_step(d) for d in checkpoint_dirs),
             *(last_logged_step(f) for f in metrics_files)]
    return max((step for step in steps if step is not None), default=None)
