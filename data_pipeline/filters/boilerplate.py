"""Boilerplate documents: pages that are mostly navigation, cookie/copyright notices or placeholder text."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.phrases import count_matches, phrase_pattern
from data_pipeline.filters.textstats import lines


@dataclass
class BoilerplateThresholds:
    enabled: bool = True
    phrases: list[str] = field(default_factory=list)  # a line holding one of these is a boilerplate line
    max_boilerplate_lines: float = 0.3
    fatal_phrases: list[str] = field(default_factory=lambda: ["lorem ipsum"])  # one hit rejects the document


class BoilerplateFilter(SignalFilter):
    name = "boilerplate"
    section = "boilerplate"

    def __init__(self, per_language, langid=None):
        super().__init__(per_language, langid)
        self._phrases = {lang: phrase_pattern(t.phrases, True) for lang, t in self.thresholds.items()}
        self._fatal = {lang: phrase_pattern(t.fatal_phrases, True) for lang, t in self.thresholds.items()}

    def compute(self, text: str, lang: str) -> dict:
        pattern = self._phrases.get(lang)
        text_lines = lines(text) or [""]
        hits = sum(1 for line in text_lines if count_matches(pattern, line))
        return {"boilerplate_lines": round(hits / len(text_lines), 4),
                "fatal_phrases": count_matches(self._fatal.get(lang), text)}

    def judge(self, s: dict, t: BoilerplateThresholds) -> str | None:
        if s["fatal_phrases"]:
            return "placeholder_text"
        if s["boilerplate_lines"] > t.max_boilerplate_lines:
            return "boilerplate_lines"
        return None
