"""Where a pipeline run keeps its files under OUT/ (shared by the local and Ray executors)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from plumbing.atomic_write import atomic_write_json


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
    """Markers and stats.json: readers see the old file or the whole new one (fsynced, so a marker never
    names a shard whose output a power loss could still take back)."""
    atomic_write_json(path, data, indent=1)


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))
