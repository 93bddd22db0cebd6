"""Listed phrases found as whole words, shared by the boilerplate, flagged-word and line-cleaning rules.

Matching happens on the text's matching key (OpenCC Simplified, lower-case), so one Simplified list also
catches Traditional pages (百家樂 → 百家乐). A phrase counts only as whole words: ASCII ends must not touch a
Latin letter or digit ("slot" is not inside "slots"), Chinese ends must fall on jieba word boundaries
(版权所有 is not inside 版权所有者).
"""

from __future__ import annotations

import re

from data_pipeline.filters.segment import word_boundaries
from data_pipeline.filters.textstats import TERMINAL_PUNCT
from data_pipeline.normalize.chinese_variants import matching_key

_ASCII_WORD = "A-Za-z0-9_"
# A menu: at least 3 short items between separators ("Home | Blog | Login", "首页 > 新闻 > 国内").
_MENU_SEPARATOR = re.compile(r"\s*[|｜»>·•]\s*")
_MENU_ITEM_CHARS = 20


def _escaped(key: str) -> str:
    left = rf"(?<![{_ASCII_WORD}])" if re.match(rf"[{_ASCII_WORD}]", key) else ""
    right = rf"(?![{_ASCII_WORD}])" if re.match(rf"[{_ASCII_WORD}]", key[-1]) else ""
    return left + re.escape(key) + right


class PhraseMatcher:
    def __init__(self, phrases: list[str]):
        keys = sorted({matching_key(p.strip()) for p in phrases if p.strip()}, key=len, reverse=True)
        self.pattern = re.compile("|".join(_escaped(k) for k in keys)) if keys else None

    def spans(self, key: str) -> list[tuple[int, int]]:
        """(start, end) of each whole-word match in `key` (a text's `matching_key`)."""
        if self.pattern is None:
            return []
        hits = [m.span() for m in self.pattern.finditer(key)]
        if all(key[s:e].isascii() for s, e in hits):
            return hits
        bounds = word_boundaries(key)  # segmenting only texts that hold a Chinese candidate keeps this cheap
        return [(s, e) for s, e in hits if key[s:e].isascii() or (s in bounds and e in bounds)]

    def count(self, text: str) -> int:
        return len(self.spans(matching_key(text)))


def _content(text: str) -> int:
    """Letters (Han included): digits in a footer are years, phone or licence numbers, not prose."""
    return sum(1 for ch in text if ch.isalpha())


def is_menu_line(line: str) -> bool:
    """Three or more short items joined by menu separators, none of them a sentence."""
    items = [item for item in _MENU_SEPARATOR.split(line.strip()) if item]
    return len(items) >= 3 and len(_MENU_SEPARATOR.findall(line)) >= 2 and all(
        len(item) <= _MENU_ITEM_CHARS and any(ch.isalpha() for ch in item) and not item.endswith(TERMINAL_PUNCT)
        for item in items)


def is_boilerplate_line(line: str, matcher: PhraseMatcher, max_chars: int) -> bool:
    """A short line that is navigation or a notice, not prose that mentions one (C4 judges lines, not texts).

    It holds a listed phrase as whole words and either the phrases make up half its letters
    ("登录 | 注册", "版权所有 2024", "京ICP备12345678号"), or it opens with one and is not a sentence
    ("上一篇：茶的历史", "Sign up for our newsletter"). "据统计，一季度全国新注册企业超过二百万户。" is prose.
    A menu line ("Careers | Login | Sitemap") is boilerplate whatever its words.
    """
    if len(line) > max_chars:
        return False
    if is_menu_line(line):
        return True
    if matcher.pattern is None:
        return False
    key = matching_key(line)
    spans = matcher.spans(key)
    if not spans:
        return False
    covered = sum(_content(key[s:e]) for s, e in spans)
    if covered >= 0.5 * max(_content(key), 1):
        return True
    opens = _content(key[: spans[0][0]]) == 0
    return opens and not line.rstrip().endswith(TERMINAL_PUNCT)
