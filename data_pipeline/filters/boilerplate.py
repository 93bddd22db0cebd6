"""Boilerplate documents: pages that are mostly navigation, cookie/copyright notices or placeholder text.

The share counts short, navigation-like lines only (`phrases.is_boilerplate_line`, the line cleaner's rule):
a paragraph of prose that mentions 版权所有者, "click here" or 上一篇课文 is not boilerplate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.phrases import PhraseMatcher, is_boilerplate_line
from data_pipeline.filters.textstats import lines


@dataclass
class BoilerplateThresholds:
    enabled: bool = True
    phrases: list[str] = field(default_factory=list)  # a short line made of / opening with one is boilerplate
    max_line_chars: int = 80  # longer lines are prose, whatever they mention
    max_boilerplate_lines: float = 0.3
    fatal_phrases: list[str] = field(default_factory=lambda: ["lorem ipsum"])  # one hit rejects the document


class BoilerplateFilter(SignalFilter):
    name = "boilerplate"
    section = "boilerplate"

    def __init__(self, per_language, langid=None):
        super().__init__(per_language, langid)
        self._phrases = {lang: PhraseMatcher(t.phrases) for lang, t in self.thresholds.items()}
        self._fatal = {lang: PhraseMatcher(t.fatal_phrases) for lang, t in self.thresholds.items()}

    def compute(self, text: str, lang: str) -> dict:
        matcher = self._phrases.get(lang) or PhraseMatcher([])
        max_chars = getattr(self.thresholds.get(lang), "max_line_chars", 80)
        text_lines = lines(text) or [""]
        hits = sum(1 for line in text_lines if is_boilerplate_line(line, matcher, max_chars))
        fatal = self._fatal.get(lang)
        return {"boilerplate_lines": round(hits / len(text_lines), 4),
                "fatal_phrases": fatal.count(text) if fatal else 0}

    def judge(self, s: dict, t: BoilerplateThresholds) -> str | None:
        if s["fatal_phrases"]:
            return "placeholder_text"
        if s["boilerplate_lines"] > t.max_boilerplate_lines:
            return "boilerplate_lines"
        return None
