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


# Tokens for the Gopher n-gram rules. en: words, and punctuation as tokens of their own, as NLTK's
# word_tokenize gives datatrove (every non-space character lies in exactly one token); a run of punctuation
# ("!!!!!!") is one token, so a shouted line is not a "repeated 2-gram" of "!" worth more than the text.
# zh: each Han character, each run of other word characters, each punctuation run. FineWeb-2 uses jieba words
# for cmn; on ../shared/data/corpus character tokens separate clean Wikipedia from repetitive junk better
# (docs/pipeline.md, "Repetition").
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NGRAM_TOKEN = {
    ZH: re.compile(rf"[{_HAN}]|(?:(?![{_HAN}])\w)+|[^\w\s]+"),
    "en": re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]+"),
}
# What joins an n-gram's tokens in the text: a space between English words, nothing between Chinese characters.
NGRAM_JOINER = {ZH: ""}


def ngram_tokens(text: str, lang: str) -> list[str]:
    return _NGRAM_TOKEN.get(lang, _NGRAM_TOKEN["en"]).findall(text)


def top_ngram_chars(tokens: list[str], n: int, joiner: str = " ") -> int:
    """Gopher's "top n-gram character fraction" numerator (datatrove's find_top_duplicate): the characters of
    the most frequent n-gram (its tokens joined by `joiner`) times its count, every occurrence included.
    Ties go to the n-gram seen first. 0 when no n-gram occurs twice: datatrove then returns the first
    n-gram's length, which measures how short the text is, not repetition (Gopher applied the rule to texts
    of >= 50 words, where that value stays under every threshold; our en minimum is 20 words)."""
    if len(tokens) < n:
        return 0
    counts = Counter(zip(*(tokens[i:] for i in range(n))))
    gram, count = counts.most_common(1)[0]
    if count < 2:
        return 0
    return (sum(map(len, gram)) + len(joiner) * (n - 1)) * count


def repeated_ngram_chars(tokens: list[str], n: int) -> int:
    """Gopher's "duplicate n-gram character fraction" numerator (datatrove's find_all_duplicate): scanning left
    to right, an n-gram seen before adds its characters and the scan jumps past it; the first occurrence adds
    nothing. n-grams compare as token tuples (datatrove compares the joined strings, which can merge
    different n-grams: "ab"+"c" and "a"+"bc")."""
    seen: set[tuple[str, ...]] = set()
    repeated, i = 0, 0
    while i <= len(tokens) - n:
        gram = tuple(tokens[i:i + n])
        if gram in seen:
            repeated += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated
