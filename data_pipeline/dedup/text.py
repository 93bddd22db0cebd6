"""Text views used by dedup: the normalised form that is hashed, shingle tokens, and sentence spans."""

from __future__ import annotations

import re
import unicodedata

from data_pipeline.normalize.chinese_variants import to_simplified

# Scripts written without spaces: every character is one token (Han, kana, Hangul).
CJK_CODEPOINT_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x3040, 0x30FF), (0xAC00, 0xD7AF))
_CJK_RANGES = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_CODEPOINT_RANGES)
# One CJK character, or one run of other letters/digits (a word). Punctuation and spaces separate tokens.
_TOKEN = re.compile(f"[{_CJK_RANGES}]|[^\\W_{_CJK_RANGES}]+")
_CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")
_NON_WORD = re.compile(r"[\W_]+")
# A sentence ends after zh 。！？； or en .?! (+ closing quotes) followed by space/end, or at a newline; it
# takes the whitespace after it along.
_SENTENCE_END = re.compile(r"(?:[。！？；!?;]+[”’」』\"')）]*|\.+[\"')]*(?=\s|$)|\n)\s*")


def fold(text: str) -> str:
    """The spelling every dedup key is computed from: NFKC, Traditional → Simplified (OpenCC, the same key the
    filters' word lists match on), casefold. A page copied into the other script is the same page."""
    return to_simplified(unicodedata.normalize("NFKC", text)).casefold()


def normalize_for_hash(text: str) -> str:
    """`fold` + every run of punctuation/whitespace collapsed to one space, so trivially different copies
    ("Hello,  world!" / "hello world", 臺灣 / 台湾) hash equal while words stay apart."""
    return _NON_WORD.sub(" ", fold(text)).strip()


def shingle_tokens(text: str) -> list[str]:
    """Tokens for shingling: each CJK character alone, other scripts by word (after `fold`)."""
    return _TOKEN.findall(fold(text))


def is_cjk_char(token: str) -> bool:
    return len(token) == 1 and _CJK_CHAR.match(token) is not None


def language_from_counts(lang: str | None, cjk_tokens: int, tokens: int) -> str:
    if lang in ("zh", "en"):
        return lang
    return "zh" if tokens and 2 * cjk_tokens >= tokens else "en"


def shingle_language(tokens: list[str], lang: str | None) -> str:
    """'zh' (shingle by characters) or 'en' (by words). The record's meta["lang"] decides when it is zh or
    en; mixed, other or unlabelled text follows the majority of its tokens, so a Chinese page with a few
    English words still shingles by characters."""
    if lang in ("zh", "en"):
        return lang
    # CJK characters are always tokens of their own, so counting them in the joined tokens counts tokens.
    return language_from_counts(lang, len(_CJK_CHAR.findall("".join(tokens))), len(tokens))


def ngram_size(tokens: list[str], lang: str | None, ngram_zh: int, ngram_en: int) -> int:
    return ngram_zh if shingle_language(tokens, lang) == "zh" else ngram_en


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, terminator included; the spans tile the text exactly, so dropping
    some and joining the rest rebuilds the document without them."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end > start:
            spans.append((start, end))
            start = end
    if start < len(text):
        spans.append((start, len(text)))
    return spans
