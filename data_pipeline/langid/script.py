"""Language from writing systems, line by line.

Chinese and English are told apart by script alone: a line is `zh` when Han characters dominate its letters,
`en` when Latin letters do. A document is the character-weighted vote of its lines, so an English
paragraph quoted inside Chinese text makes the document `mixed` (judged per part later) rather than
misclassified. Lines without letters (numbers, symbols) do not vote. Kana, Hangul, Cyrillic and other
scripts vote for `other`, as do documents with almost no letters at all (symbol soup).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ZH, EN, MIXED, OTHER = "zh", "en", "mixed", "other"


@dataclass
class LangIdConfig:
    line_majority: float = 0.5  # a line's language needs this share of its letters
    doc_majority: float = 0.8  # a document is zh/en when that language holds this share of voting chars
    min_letter_ratio: float = 0.25  # fewer letters than this share of non-space chars: "other"
    min_part_chars: int = 20  # a mixed document's language part shorter than this is not judged alone
    keep: list[str] = field(default_factory=lambda: [ZH, EN, MIXED])  # others are rejected as langid:<lang>


def _is_han(code: int) -> bool:
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF or 0xF900 <= code <= 0xFAFF


def count_scripts(text: str) -> tuple[int, int, int, int]:
    """(han, latin letters, other-script letters, non-space chars) of `text`."""
    han = latin = other = nonspace = 0
    for ch in text:
        code = ord(ch)
        if code < 128:
            if ch.isalpha():
                latin += 1
                nonspace += 1
            elif not ch.isspace():
                nonspace += 1
        elif _is_han(code):
            han += 1
            nonspace += 1
        elif ch.isalpha():
            if 0xC0 <= code <= 0x24F:  # accented Latin (é, ü...) counts as Latin
                latin += 1
            else:
                other += 1
            nonspace += 1
        elif not ch.isspace():
            nonspace += 1
    return han, latin, other, nonspace


def line_language(line: str, cfg: LangIdConfig) -> tuple[str | None, int]:
    """(language or None when the line has no letters, its voting weight: Latin letters, Han x3)."""
    han, latin, other, _ = count_scripts(line)
    # A Han character carries about as much as a short English word: weight it 3x against Latin letters,
    # so "我们用Python写代码" is zh while an English sentence naming 北京 stays en.
    weighted = {ZH: 3 * han, EN: latin, OTHER: 3 * other}
    total = sum(weighted.values())
    if total == 0:
        return None, 0
    best = max(weighted, key=weighted.get)
    if weighted[best] < cfg.line_majority * total:
        return None, 0
    return best, total


@dataclass(frozen=True)
class LanguageGuess:
    lang: str
    score: float  # share of the votes held by `lang` (for mixed: by zh and en together)
    votes: dict  # per language: Latin letters + 3 x Han characters of the lines it won


def guess_language(text: str, cfg: LangIdConfig) -> LanguageGuess:
    votes = {ZH: 0, EN: 0, OTHER: 0}
    for line in text.split("\n"):
        lang, weight = line_language(line, cfg)
        if lang is not None:
            votes[lang] += weight
    han, latin, other, nonspace = count_scripts(text)
    letters = han + latin + other
    total = sum(votes.values())
    if nonspace == 0 or letters < cfg.min_letter_ratio * nonspace or total == 0:
        return LanguageGuess(OTHER, 1.0 - letters / max(nonspace, 1), votes)
    shares = {lang: n / total for lang, n in votes.items()}
    best = max(shares, key=shares.get)
    if shares[best] >= cfg.doc_majority:
        return LanguageGuess(best, round(shares[best], 4), votes)
    if shares[OTHER] > 1 - cfg.doc_majority:
        return LanguageGuess(OTHER, round(shares[OTHER], 4), votes)
    return LanguageGuess(MIXED, round(shares[ZH] + shares[EN], 4), votes)


def split_by_language(text: str, lang: str, cfg: LangIdConfig) -> dict[str, str]:
    """The parts of a document to judge, by language: the whole text for zh/en, the zh and en lines of a
    mixed document (each part long enough to judge), en thresholds for anything else."""
    if lang in (ZH, EN):
        return {lang: text}
    if lang != MIXED:
        return {EN: text}
    lines: dict[str, list[str]] = {ZH: [], EN: []}
    current = ZH
    for line in text.split("\n"):
        line_lang, _ = line_language(line, cfg)
        if line_lang in lines:
            current = line_lang  # lines without letters stay with the language around them
        lines[current].append(line)
    parts = {lang: "\n".join(part) for lang, part in lines.items()}
    judged = {lang: part for lang, part in parts.items() if len(part) >= cfg.min_part_chars}
    return judged or {max(parts, key=lambda k: len(parts[k])): text}
