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


UNKNOWN_LANG = "unknown"  # records rejected before langid (or without a label)


@dataclass
class OutcomeTally:
    """What became of one group's records (a language, or a source file): kept or rejected, by which
    "stage:rule", and which line-cleaning reasons removed lines from them. Each record is counted once, where it
    leaves the pipeline: in rejected/ (any segment) or in kept/ (the last one)."""

    docs_kept: int = 0
    chars_kept: int = 0
    docs_rejected: int = 0
    chars_rejected: int = 0
    rules: dict[str, dict[str, int]] = field(default_factory=dict)  # "stage:rule" -> {"docs", "chars"}
    lines_dropped: dict[str, dict[str, int]] = field(default_factory=dict)  # reason -> {"lines", "chars"}
    pii: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> {"docs", "replaced"}, from meta.pii

    def add_record(self, record: dict) -> None:
        chars = text_chars(record)
        if REJECT_REASON in record:
            self.docs_rejected += 1
            self.chars_rejected += chars
            _bump(self.rules, str(record[REJECT_REASON]), docs=1, chars=chars)
        else:
            self.docs_kept += 1
            self.chars_kept += chars
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        dropped = meta.get("lines_dropped")
        if isinstance(dropped, dict):  # reason -> lines; the removed lines themselves in meta.lines_removed
            removed_chars: dict[str, int] = {}
            for line in meta.get("lines_removed") or []:
                if isinstance(line, dict):
                    reason = str(line.get("reason"))
                    removed_chars[reason] = removed_chars.get(reason, 0) + len(str(line.get("text", "")))
            for reason, lines in dropped.items():
                _bump(self.lines_dropped, str(reason), lines=int(lines), chars=removed_chars.get(str(reason), 0))
        pii = meta.get("pii")
        if isinstance(pii, dict):  # the pii stage's replacements per kind
            for kind, replaced in pii.items():
                if isinstance(replaced, int) and not isinstance(replaced, bool):
                    _bump(self.pii, str(kind), docs=1, replaced=replaced)

    def add(self, other: OutcomeTally) -> None:
        for name in ("docs_kept", "chars_kept", "docs_rejected", "chars_rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.rules, other.rules), (self.lines_dropped, other.lines_dropped),
                             (self.pii, other.pii)):
            for key, slot in theirs.items():
                _bump(mine, key, **slot)

    def to_dict(self) -> dict:
        return {"docs_kept": self.docs_kept, "chars_kept": self.chars_kept, "docs_rejected": self.docs_rejected,
                "chars_rejected": self.chars_rejected, "rules": {k: dict(self.rules[k]) for k in sorted(self.rules)},
                "lines_dropped": {k: dict(self.lines_dropped[k]) for k in sorted(self.lines_dropped)},
                "pii": {k: dict(self.pii[k]) for k in sorted(self.pii)}}

    @classmethod
    def from_dict(cls, data: dict) -> OutcomeTally:
        tally = cls(**{k: v for k, v in data.items() if k not in ("rules", "lines_dropped", "pii")})
        tally.rules = {k: dict(v) for k, v in data.get("rules", {}).items()}
        tally.lines_dropped = {k: dict(v) for k, v in data.get("lines_dropped", {}).items()}
        tally.pii = {k: dict(v) for k, v in data.get("pii", {}).items()}
        return tally


def _bump(slots: dict[str, dict[str, int]], key: str, **counts: int) -> None:
    slot = slots.setdefault(key, {name: 0 for name in counts})
    for name, value in counts.items():
        slot[name] = slot.get(name, 0) + value


class LanguageTallies:
    """OutcomeTally per meta.lang of the records leaving one shard."""

    def __init__(self):
        self.tallies: dict[str, OutcomeTally] = {}

    def add_record(self, record: dict) -> None:
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        lang = meta.get("lang") or UNKNOWN_LANG
        self.tallies.setdefault(str(lang), OutcomeTally()).add_record(record)

    def to_dict(self) -> dict[str, dict]:
        return {lang: self.tallies[lang].to_dict() for lang in sorted(self.tallies)}


def sum_tallies(groups: list[dict[str, dict]]) -> dict[str, OutcomeTally]:
    """Per-key sums of several {key: OutcomeTally dict} maps."""
    totals: dict[str, OutcomeTally] = {}
    for group in groups:
        for key, data in group.items():
            totals.setdefault(key, OutcomeTally()).add(OutcomeTally.from_dict(data))
    return totals
