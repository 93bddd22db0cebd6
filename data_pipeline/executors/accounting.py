"""Per-stage, per-rule counts of documents and characters; every executor uses these.

Invariant, checked for every stage of every shard: docs_in == docs_kept + docs_rejected. A stage that loses or
invents a record is a bug and raises. Characters: `chars_in` is measured on the records a stage receives,
`chars_rejected` on the records it rejects (stages reject records with their text untouched), and
`chars_kept` on what it passes on, so `chars_in - chars_rejected - chars_kept` is what line cleaning removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from data_pipeline.stage import REJECT_REASON, text_of


def text_chars(record: dict) -> int:
    return len(text_of(record))


@dataclass
class StageCounts:
    docs_in: int = 0
    chars_in: int = 0
    docs_kept: int = 0
    chars_kept: int = 0
    docs_rejected: int = 0
    chars_rejected: int = 0
    rules: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> {"docs", "chars"}
    last_id: object = field(default=None, compare=False)  # of the record received last, to name it in a failure

    def count_rejected(self, record: dict) -> None:
        chars = text_chars(record)
        self.docs_rejected += 1
        self.chars_rejected += chars
        rule = str(record[REJECT_REASON]).split(":", 1)[-1]
        slot = self.rules.setdefault(rule, {"docs": 0, "chars": 0})
        slot["docs"] += 1
        slot["chars"] += chars

    def check(self, stage: str) -> None:
        if self.docs_in != self.docs_kept + self.docs_rejected:
            raise AssertionError(
                f"stage {stage!r} received {self.docs_in} records but yielded {self.docs_kept} kept + "
                f"{self.docs_rejected} rejected: a stage must yield every record it receives"
            )

    def add(self, other: StageCounts) -> None:
        for name in ("docs_in", "chars_in", "docs_kept", "chars_kept", "docs_rejected", "chars_rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for rule, counts in other.rules.items():
            slot = self.rules.setdefault(rule, {"docs": 0, "chars": 0})
            slot["docs"] += counts["docs"]
            slot["chars"] += counts["chars"]

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in (
            "docs_in", "docs_kept", "docs_rejected", "chars_in", "chars_kept", "chars_rejected")}
        data["rules"] = {rule: dict(self.rules[rule]) for rule in sorted(self.rules)}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> StageCounts:
        counts = cls(**{k: v for k, v in data.items() if k != "rules"})
        counts.rules = {rule: dict(slot) for rule, slot in data.get("rules", {}).items()}
        return counts


ProgressFn = Callable[[str, int], None]


def counted_input(records: Iterator[dict], counts: StageCounts) -> Iterator[dict]:
    for record in records:
        counts.docs_in += 1
        counts.chars_in += text_chars(record)
        counts.last_id = record.get("id")
        yield record


def routed_output(
    stage: str, records: Iterator[dict], counts: StageCounts, on_reject: Callable[[dict], None],
    progress: ProgressFn | None = None, every: int = 512,
) -> Iterator[dict]:
    """Pass on kept records; send rejected ones to `on_reject` so later stages never see them."""
    seen = 0
    for record in records:
        if REJECT_REASON in record:
            counts.count_rejected(record)
            on_reject(record)
        else:
            counts.docs_kept += 1
            counts.chars_kept += text_chars(record)
            yield record
        seen += 1
        if progress is not None and seen == every:
            progress(stage, seen)
            seen = 0
    if progress is not None and seen:
        progress(stage, seen)


def merge_stage_counts(per_shard: list[dict[str, dict]], order: list[str]) -> dict[str, dict]:
    """Sum per-shard stage counts into one dict, stages in pipeline order."""
    totals = {name: StageCounts() for name in order}
    for shard_counts in per_shard:
        for name, data in shard_counts.items():
            totals.setdefault(name, StageCounts()).add(StageCounts.from_dict(data))
    return {name: counts.to_dict() for name, counts in totals.items()}
