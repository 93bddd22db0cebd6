"""Signal filters: compute signals once, store them under meta, apply per-language thresholds separately.

A subclass implements `compute(text, lang) -> signals` and `judge(signals, thresholds) -> rule | None`. `run`
stores ``meta[<stage>] = {lang: signals}`` (one entry per language part; a mixed document has a zh and an en
part, each judged with its own language's thresholds) and rejects with the first failing rule.
`rejudge(record)` re-applies (possibly new) thresholds to the stored signals without recomputing them.
The rules judge prose: code blocks (`code_blocks`) are left out when enough prose remains to judge.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from data_pipeline.filters.code_blocks import without_code
from data_pipeline.langid.identify import guess_language
from data_pipeline.langid.script import EN, MIXED, ZH, LangIdConfig, split_by_language
from data_pipeline.stage import ShardInfo, Stage, meta_of, reject


class SignalFilter(Stage):
    name = "filter"
    section = ""  # the attribute of LanguageFilters holding this filter's thresholds

    def __init__(self, per_language: dict[str, Any], langid: LangIdConfig | None = None):
        """`per_language` maps "zh"/"en" to a LanguageFilters (or directly to this filter's thresholds)."""
        self.thresholds = {
            lang: getattr(cfg, self.section) if hasattr(cfg, self.section) else cfg
            for lang, cfg in per_language.items()
        }
        self.langid = langid or LangIdConfig()

    def compute(self, text: str, lang: str) -> dict:
        raise NotImplementedError

    def judge(self, signals: dict, thresholds: Any) -> str | None:
        raise NotImplementedError

    def enabled(self, thresholds: Any) -> bool:
        return getattr(thresholds, "enabled", True)

    def parts(self, record: dict) -> dict[str, str]:
        text, lang = record["text"], meta_of(record).get("lang", EN)
        prose = without_code(text)
        if prose != text and len(prose.strip()) >= self.langid.min_part_chars:
            # A zh tutorial is "mixed" only because of its code's Latin letters: re-read the prose's language.
            text = prose
            if lang == MIXED:
                guess = guess_language(prose, self.langid).lang
                lang = guess if guess in (ZH, EN, MIXED) else lang  # not "other" or a third language
        return split_by_language(text, lang, self.langid)

    def rejudge(self, record: dict) -> str | None:
        """The first failing rule for the signals stored on `record`, under the current thresholds."""
        for lang, signals in meta_of(record).get(self.name, {}).items():
            thresholds = self.thresholds.get(lang, self.thresholds[EN])
            if self.enabled(thresholds):
                rule = self.judge(signals, thresholds)
                if rule:
                    return rule
        return None

    def run(self, records: Iterator[dict], shard: ShardInfo) -> Iterator[dict]:
        for record in records:
            parts = self.parts(record)
            meta_of(record)[self.name] = {lang: self.compute(text, lang) for lang, text in parts.items()}
            rule = self.rejudge(record)
            if rule:
                reject(record, self.name, rule)
            yield record
