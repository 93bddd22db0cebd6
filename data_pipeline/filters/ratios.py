"""Character-class ratios: symbols, digits, URLs and special characters per character.

A math operator between two operands ("I < Br < SCN", "x = 2", "3 + 4") is a formula in science text, not
symbol soup: it counts for neither the symbol nor the special ratio. Symbol soup (★☆, $$$, emoji, box
drawing, runs like "+++") still counts: its symbols stand next to other symbols or alone.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from data_pipeline.filters.base import SignalFilter

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'，。]+", re.IGNORECASE)
# Punctuation normal prose uses; anything else that is neither letter, digit nor space is "special".
_PROSE_PUNCT = frozenset(".,;:!?'\"()-—–…/%&“”‘’«»，。！？；：、（）《》「」『』【】·～")


def _neighbour(text: str, i: int, step: int) -> str:
    """The nearest character to text[i] in direction `step` across at most one space ("" at the edges)."""
    j = i + step
    if 0 <= j < len(text) and text[j] == " ":
        j += step
    return text[j] if 0 <= j < len(text) else ""


def _is_operator(text: str, i: int) -> bool:
    """text[i] is a math symbol (Sm) between two operands: letters, digits or closing/opening brackets."""
    if unicodedata.category(text[i]) != "Sm":
        return False
    before, after = _neighbour(text, i, -1), _neighbour(text, i, 1)
    return bool(before) and bool(after) and (before.isalnum() or before in ")]）⁻⁺") and (after.isalnum() or after in "([（-−")


@dataclass
class RatioThresholds:
    enabled: bool = True
    max_symbol_ratio: float = 0.05  # Unicode symbols (S*: $ + = ^ | ~ emoji, box drawing, ...)
    max_digit_ratio: float = 0.25
    max_url_ratio: float = 0.2  # characters inside URLs
    max_special_ratio: float = 0.15  # neither letter, digit, space nor prose punctuation


class RatioFilter(SignalFilter):
    name = "char_ratios"
    section = "ratios"

    def compute(self, text: str, lang: str) -> dict:
        nonspace = symbols = digits = special = 0
        for i, ch in enumerate(text):
            if ch.isspace():
                continue
            nonspace += 1
            if ch.isdigit():
                digits += 1
            elif ch.isalpha():
                continue
            elif ch not in _PROSE_PUNCT and not _is_operator(text, i):
                special += 1
                if unicodedata.category(ch)[0] == "S":
                    symbols += 1
        url_chars = sum(len(m) for m in _URL.findall(text))
        n = max(nonspace, 1)
        return {
            "symbol_ratio": round(symbols / n, 4),
            "digit_ratio": round(digits / n, 4),
            "url_ratio": round(url_chars / max(len(text), 1), 4),
            "special_ratio": round(special / n, 4),
        }

    def judge(self, s: dict, t: RatioThresholds) -> str | None:
        if s["url_ratio"] > t.max_url_ratio:
            return "url_ratio"
        if s["symbol_ratio"] > t.max_symbol_ratio:
            return "symbol_ratio"
        if s["digit_ratio"] > t.max_digit_ratio:
            return "digit_ratio"
        if s["special_ratio"] > t.max_special_ratio:
            return "special_ratio"
        return None
