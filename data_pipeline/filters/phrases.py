"""Phrase matching shared by the boilerplate, flagged-word and line-cleaning rules (one compiled regex)."""

from __future__ import annotations

import re


def phrase_pattern(phrases: list[str], whole_words: bool) -> re.Pattern | None:
    """A case-insensitive regex matching any phrase; ASCII phrases match whole words when `whole_words`."""
    if not phrases:
        return None
    parts = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        escaped = re.escape(phrase)
        parts.append(rf"(?<!\w){escaped}(?!\w)" if whole_words and phrase.isascii() else escaped)
    return re.compile("|".join(parts), re.IGNORECASE)


def count_matches(pattern: re.Pattern | None, text: str) -> int:
    return 0 if pattern is None else sum(1 for _ in pattern.finditer(text))
