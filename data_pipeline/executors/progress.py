"""One progress bar per stage, counting documents in with docs/s (tqdm, on stderr).

Bars are drawn only on a terminal: piped into a log (CI, the demo), fifteen redrawn bars are noise, and the
same numbers are in stats.json.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


class StageProgress:
    def __init__(self, stages: list[str], enabled: bool = True):
        enabled = enabled and sys.stderr.isatty()
        self._bars = {
            name: tqdm(desc=f"{name:>16}", unit=" docs", position=i, leave=True, disable=not enabled,
                       dynamic_ncols=True, mininterval=0.5)
            for i, name in enumerate(stages)
        }

    def update(self, stage: str, docs: int) -> None:
        bar = self._bars.get(stage)
        if bar is not None:
            bar.update(docs)

    def add_counts(self, stage_counts: dict[str, dict]) -> None:
        """Advance every bar by a finished shard's counts (used when shards run in worker processes)."""
        for stage, counts in stage_counts.items():
            self.update(stage, counts["docs_in"])

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
