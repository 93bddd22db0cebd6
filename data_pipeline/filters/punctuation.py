"""FineWeb-style line rules: lines ending in terminal punctuation (incl. 。！？), short lines, list-likeness.

C4's "every line ends in . ! ?" drops all Chinese; FineWeb's ratio of punctuated lines with the Chinese
terminal marks added keeps prose in both languages and drops menus, tag clouds and keyword lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data_pipeline.filters.base import SignalFilter
from data_pipeline.filters.textstats import TERMINAL_PUNCT, lines, units

# A sentence end inside a line: terminal mark followed by space, a closing quote/bracket, or a CJK character.
_SENTENCE_END = re.compile(r"[.!?](?=[\s\"'”’)\]])|[。！？]")


def is_punctuated(line: str, long_line_chars: int) -> bool:
    """A line reads as prose: it ends in terminal punctuation, or it is long and holds a sentence end.

    The second case matters for documents cut at fixed line counts (book chunks, hard-wrapped text): their
    last line stops mid-sentence although the text is prose.
    """
    return line.endswith(TERMINAL_PUNCT) or (len(line) >= long_line_chars and _SENTENCE_END.search(line) is not None)


@dataclass
class PunctuationThresholds:
    enabled: bool = True
    min_terminal_punct_lines: float = 0.12  # share of lines ending in terminal punctuation
    short_line_chars: int = 30  # a line shorter than this counts as short (zh: fewer characters)
    long_line_chars: int = 120  # a line this long counts as punctuated when a sentence ends inside it
    max_short_lines: float = 0.67
    max_newlines_per_unit: float = 0.3  # many lines, few words: a list, not prose


class PunctuationFilter(SignalFilter):
    name = "punctuation"
    section = "punctuation"

    def compute(self, text: str, lang: str) -> dict:
        t: PunctuationThresholds = self.thresholds.get(lang) or next(iter(self.thresholds.values()))
        text_lines = lines(text) or [""]
        n = len(text_lines)
        return {
            "terminal_punct_lines": round(sum(is_punctuated(line, t.long_line_chars) for line in text_lines) / n, 4),
            "short_lines": round(sum(len(line) < t.short_line_chars for line in text_lines) / n, 4),
            "newlines_per_unit": round(text.count("\n") / max(len(units(text, lang)), 1), 4),
        }

    def judge(self, s: dict, t: PunctuationThresholds) -> str | None:
        if s["terminal_punct_lines"] < t.min_terminal_punct_lines:
            return "terminal_punct"
        if s["short_lines"] > t.max_short_lines:
            return "short_lines"
        if s["newlines_per_unit"] > t.max_newlines_per_unit:
            return "list_like"
        return None
