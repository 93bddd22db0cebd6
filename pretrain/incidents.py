"""`incidents.jsonl`: one JSON line per thing that went wrong and what was done about it.

The trainer (loss guard) and the supervisor (`launch.run`: crashes, hangs) append to the same file in the run
directory, so one file tells the story of a run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def append_incident(path: str | Path, kind: str, **fields) -> dict:
    record = {"time": time.time(), "source": "trainer", "kind": kind, **fields}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write() of one line with O_APPEND: concurrent writers never interleave within a record.
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return record
