"""Flagged words (adult, gambling, spam pages), matched as whole words on the Simplified matching key.

Chinese words come from jieba's segmentation (成人 is not a word of 长大成人 or 成人教育), English words have
word boundaries ("slot" is not in "slots"), and a Traditional page (百家樂/老虎機/時時彩) matches the Simplified
list through OpenCC. Words that are ordinary in clean text (成人 in a dosage line, "escort" in naval history,
"slots" in a scheduler) are listed only in their spam phrases ("escort service", 成人视频). A page is spam
when flagged words are dense *and* varied: `min_distinct` different listed words, so an article about one
topic (a biography of a casino owner) is judged by its rate alone only once it uses several of them.
The rate is per word: jieba words for zh, whitespace words for en.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.phrases import PhraseMatcher
from data_pipeline.filters.segment import zh_words
from data_pipeline.filters.textstats import words
from data_pipeline.langid.script import ZH
from data_pipeline.normalize.chinese_variants import matching_key


@dataclass
class FlaggedWordsThresholds:
    enabled: bool = True
    words: list[str] = field(default_factory=list)
    allowlist: list[str] = field(default_factory=list)  # phrases blanked out before matching
    max_flagged_ratio: float = 0.01  # flagged words per word
    min_distinct: int = 2  # different flagged words needed to reject


class FlaggedWordsFilter(SignalFilter):
    name = "flagged_words"
    section = "flagged_words"

    def __init__(self, per_language, langid=None):
        super().__init__(per_language, langid)
        self._words = {lang: PhraseMatcher(t.words) for lang, t in self.thresholds.items()}
        self._allow = {lang: PhraseMatcher(t.allowlist) for lang, t in self.thresholds.items()}

    def compute(self, text: str, lang: str) -> dict:
        key = matching_key(text)
        allow = self._allow.get(lang)
        if allow is not None and allow.pattern is not None:
            key = allow.pattern.sub(lambda m: " " * len(m.group()), key)
        matcher = self._words.get(lang)
        spans = matcher.spans(key) if matcher else []
        if not spans:
            return {"flagged": 0, "flagged_distinct": 0, "flagged_ratio": 0.0}
        n_words = sum(1 for w in zh_words(key) if any(ch.isalnum() for ch in w)) if lang == ZH else len(words(key))
        return {"flagged": len(spans), "flagged_distinct": len({key[s:e] for s, e in spans}),
                "flagged_ratio": round(len(spans) / max(n_words, 1), 5)}

    def judge(self, s: dict, t: FlaggedWordsThresholds) -> str | None:
        if s["flagged_ratio"] > t.max_flagged_ratio and s.get("flagged_distinct", t.min_distinct) >= t.min_distinct:
            return "flagged_ratio"
        return None
