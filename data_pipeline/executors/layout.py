"""Where a pipeline run keeps its files under OUT/ (shared by the local and Ray executors)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutputLayout:
    root: Path

    @property
    def kept_dir(self) -> Path:
        return self.root / "kept"

    @property
    def rejected_dir(self) -> Path:
        return self.root / "rejected"

    @property
    def work_dir(self) -> Path:
        return self.root / "_work"

    @property
    def stats_path(self) -> Path:
        return self.root / "stats.json"

    def kept(self, shard: str) -> Path:
        return self.kept_dir / f"{shard}.jsonl.gz"

    def rejected(self, segment: int, shard: str) -> Path:
        return self.rejected_dir / f"seg{segment}-{shard}.jsonl.gz"

    def segment_output(self, segment: int, shard: str, last: bool) -> Path:
        """The records a segment keeps for a shard: kept/ for the last segment, _work/ between segments."""
        return self.kept(shard) if last else self.segment_records_dir(segment) / f"{shard}.jsonl.gz"

    def segment_records_dir(self, segment: int) -> Path:
        return self.work_dir / f"seg{segment}" / "records"

    def done_marker(self, segment: int, shard: str) -> Path:
        return self.work_dir / f"seg{segment}" / f"{shard}.done.json"

    def corpus_state_dir(self, segment: int, stage: str) -> Path:
        return self.work_dir / f"seg{segment}-{stage}"

    def observed_marker(self, segment: int, stage: str, shard: str) -> Path:
        return self.corpus_state_dir(segment, stage) / f"{shard}.observed"


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to a temp name and rename: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))
