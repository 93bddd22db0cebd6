"""Gopher quality rules (Rae et al. 2021, appendix A), re-tuned for Chinese.

English counts whitespace words as Gopher does. Chinese has no spaces, so "words" are Han characters: the
word-count bounds become character bounds, mean word length (meaningless per character) is skipped, and the
stop-word rule counts function characters (的 了 是 在 ...) as FineWeb-2 does for cmn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.textstats import lines, units
from data_pipeline.langid.script import ZH
from data_pipeline.normalize.chinese_variants import to_simplified

_BULLETS = ("•", "●", "○", "■", "□", "▪", "◆", "◇", "►", "▶", "-", "*", "·", "‣", "⁃")
_ELLIPSES = ("...", "…", "。。。")


@dataclass
class GopherQualityThresholds:
    enabled: bool = True
    min_units: int = 20
    max_units: int = 100_000
    min_mean_word_length: float = 3.0  # en only
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1  # ("#", "...", "…") per unit
    min_lines_for_line_rules: int = 4  # bullet/ellipsis shares of a 1-3 line document say nothing (1 of 3 > 0.3)
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_units_ratio: float = 0.8  # en: words with a letter; zh: units that are Han characters
    min_stop_words: int = 2
    stop_words: list[str] = field(default_factory=lambda: ["the", "be", "to", "of", "and", "that", "have", "with"])


def _share(items: list[str], test) -> float:
    return round(sum(1 for item in items if test(item)) / max(len(items), 1), 4)


class GopherQualityFilter(SignalFilter):
    name = "gopher_quality"
    section = "gopher_quality"

    def __init__(self, per_language, langid=None):
        super().__init__(per_language, langid)
        self._stop_words = {lang: frozenset(t.stop_words) for lang, t in self.thresholds.items()}

    def compute(self, text: str, lang: str) -> dict:
        tokens = units(text, lang)
        n = max(len(tokens), 1)
        text_lines = lines(text) or [""]
        t: GopherQualityThresholds = self.thresholds.get(lang) or next(iter(self.thresholds.values()))
        line_rules = len(text_lines) >= t.min_lines_for_line_rules
        stop = self._stop_words.get(lang, frozenset())
        if lang == ZH:
            alpha = sum(1 for u in tokens if not u.isascii())
            # On the Simplified spelling, so one list serves Traditional text (這/與/為 are 这/与/为).
            stop_hits = sum(1 for u in units(to_simplified(text), lang) if u in stop)
            mean_len = 0.0
        else:
            alpha = sum(1 for w in tokens if any(c.isalpha() for c in w))
            stop_hits = sum(1 for w in tokens if w.lower() in stop)
            mean_len = sum(len(w) for w in tokens) / n
        symbols = text.count("#") + text.count("...") + text.count("…")
        return {
            "units": len(tokens),
            "mean_word_length": round(mean_len, 3),
            "symbol_word_ratio": round(symbols / n, 4),
            "bullet_lines_ratio": _share(text_lines, lambda line: line.startswith(_BULLETS)) if line_rules else 0.0,
            "ellipsis_lines_ratio": _share(text_lines, lambda line: line.endswith(_ELLIPSES)) if line_rules else 0.0,
            "alpha_units_ratio": round(alpha / n, 4),
            "stop_words": stop_hits,
        }

    def judge(self, s: dict, t: GopherQualityThresholds) -> str | None:
        if s["units"] < t.min_units:
            return "too_few_words"
        if s["units"] > t.max_units:
            return "too_many_words"
        if s["mean_word_length"] and not t.min_mean_word_length <= s["mean_word_length"] <= t.max_mean_word_length:
            return "mean_word_length"
        if s["symbol_word_ratio"] > t.max_symbol_word_ratio:
            return "symbol_word_ratio"
        if s["bullet_lines_ratio"] > t.max_bullet_lines_ratio:
            return "bullet_lines"
        if s["ellipsis_lines_ratio"] > t.max_ellipsis_lines_ratio:
            return "ellipsis_lines"
        if s["alpha_units_ratio"] < t.min_alpha_units_ratio:
            return "alpha_words_ratio"
        if s["stop_words"] < t.min_stop_words:
            return "stop_words"
        return None
