"""Shared text measurements for the filters (one implementation of "word", "line", "n-gram" for all)."""

from __future__ import annotations

import re
from collections import Counter

from data_pipeline.langid.script import ZH

_WORD_EDGE_PUNCT = "\"'()[]{}<>.,;:!?-—–…“”‘’«»*`_"
_PARAGRAPHS = re.compile(r"\n{2,}")
_HAN_OR_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[A-Za-z0-9]+")
TERMINAL_PUNCT = tuple(".!?\"'”’。！？…」』）)")


def words(text: str) -> list[str]:
    """English words: whitespace tokens with surrounding punctuation stripped (punctuation-only tokens go)."""
    out = []
    for token in text.split():
        stripped = token.strip(_WORD_EDGE_PUNCT)
        if stripped:
            out.append(stripped)
    return out


def units(text: str, lang: str) -> list[str]:
    """What n-grams and counts are made of: for zh each Han character and each Latin/digit run (so a quoted
    English title counts as words, not letters); for en, words."""
    if lang == ZH:
        return _HAN_OR_WORD.findall(text)
    return words(text)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]


def duplicate_stats(elements: list[str]) -> tuple[int, int]:
    """(number of elements, characters in elements) that repeat an earlier element (Gopher's definition)."""
    seen: set[str] = set()
    dup_count = dup_chars = 0
    for element in elements:
        if element in seen:
            dup_count += 1
            dup_chars += len(element)
        else:
            seen.add(element)
    return dup_count, dup_chars


def _ngram_keys(ids: list[int], n: int) -> list[tuple[int, ...]]:
    return list(zip(*(ids[i:] for i in range(n))))


def top_ngram_char_fraction(tokens: list[str], ids: list[int], n: int, total_chars: int) -> float:
    """Characters covered by the most frequent n-gram (counted once per occurrence) / all characters."""
    if len(tokens) < n or total_chars == 0:
        return 0.0
    counts = Counter(_ngram_keys(ids, n))
    key, count = counts.most_common(1)[0]
    if count < 2:
        return 0.0
    first = _ngram_keys(ids, n).index(key)
    chars = sum(len(tokens[first + k]) for k in range(n))
    return chars * count / total_chars


def duplicated_ngram_char_fraction(tokens: list[str], ids: list[int], n: int, total_chars: int) -> float:
    """Characters inside n-grams that occur more than once (each character counted once) / all characters."""
    if len(tokens) < n or total_chars == 0:
        return 0.0
    keys = _ngram_keys(ids, n)
    counts = Counter(keys)
    covered = [False] * len(tokens)
    for start, key in enumerate(keys):
        if counts[key] > 1:
            for k in range(start, start + n):
                covered[k] = True
    return sum(len(token) for token, hit in zip(tokens, covered) if hit) / total_chars


def token_ids(tokens: list[str]) -> list[int]:
    """Small ints standing for tokens, so n-grams are tuples of ints (fast to hash and compare)."""
    vocab: dict[str, int] = {}
    return [vocab.setdefault(token, len(vocab)) for token in tokens]
