"""Flagged words (adult, gambling, spam) with a zh allowlist.

Chinese has no word boundaries, so a flagged string also matches inside innocent words (成人 in 成人教育);
allowlisted phrases are blanked out before counting. The rate is per unit: per word (en) or per Han character
(zh), so the same threshold scale works for short and long documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.phrases import count_matches, phrase_pattern
from data_pipeline.filters.textstats import units


@dataclass
class FlaggedWordsThresholds:
    enabled: bool = True
    words: list[str] = field(default_factory=list)
    allowlist: list[str] = field(default_factory=list)
    max_flagged_ratio: float = 0.01


class FlaggedWordsFilter(SignalFilter):
    name = "flagged_words"
    section = "flagged_words"

    def __init__(self, per_language, langid=None):
        super().__init__(per_language, langid)
        self._words = {lang: phrase_pattern(t.words, True) for lang, t in self.thresholds.items()}
        self._allow = {lang: phrase_pattern(t.allowlist, False) for lang, t in self.thresholds.items()}

    def compute(self, text: str, lang: str) -> dict:
        allow = self._allow.get(lang)
        if allow is not None:
            text = allow.sub(" ", text)
        hits = count_matches(self._words.get(lang), text)
        return {"flagged": hits, "flagged_ratio": round(hits / max(len(units(text, lang)), 1), 5)}

    def judge(self, s: dict, t: FlaggedWordsThresholds) -> str | None:
        return "flagged_ratio" if s["flagged_ratio"] > t.max_flagged_ratio else None
