"""The one contract every pipeline step follows (see docs/architecture.md).

A record is a plain JSON-serialisable dict with ``id`` and ``text``; every input field is kept and computed
signals go under ``record["meta"]``. A stage yields every record it receives, in order; a record it rejects
carries ``reject_reason = "<stage>:<rule>"`` and the executor routes it to ``rejected/``. Executors live in
`data_pipeline.executors` and know nothing about what a stage does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REJECT_REASON = "reject_reason"


@dataclass(frozen=True)
class ShardInfo:
    index: int  # shard number
    count: int  # number of shards
    name: str  # stable shard name, used for every file derived from this shard


class Stage:
    """One streaming step. Subclasses set `name` and override `run`."""

    name: str = "stage"

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        """Yield every record received, in order; rejected ones carry `reject_reason`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class CorpusStage(Stage):
    """A stage that must see the whole corpus before deciding (dedup).

    The executor streams every shard through `observe` (which writes per-shard state under `workdir`),
    calls `fit` once, then calls `run` per shard as for any stage.
    """

    def observe(self, records: Iterator[dict], shard: ShardInfo, workdir: Path) -> None:
        raise NotImplementedError

    def fit(self, workdir: Path, num_shards: int) -> None:
        raise NotImplementedError


def reject(record: dict, stage: str, rule: str) -> dict:
    """Mark `record` rejected by `stage` under `rule` (the first reason wins) and return it."""
    record.setdefault(REJECT_REASON, f"{stage}:{rule}")
    return record


def is_rejected(record: dict) -> bool:
    return REJECT_REASON in record


def text_of(record: dict) -> str:
    """The record's text, or "" when it has none (a record without a string text is still counted)."""
    text = record.get("text")
    return text if isinstance(text, str) else ""


def meta_of(record: dict) -> dict:
    """The record's signal dict, created on first use."""
    meta = record.get("meta")
    if not isinstance(meta, dict):
        meta = record["meta"] = {}
    return meta
