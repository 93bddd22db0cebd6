"""Chinese word segmentation (jieba, a pinned dependency), for matching listed phrases as whole words.

Chinese has no spaces, so a listed string is also a substring of innocent words: 版权所有 inside 版权所有者,
成人 inside 长大成人. A match counts only where it starts and ends on jieba word boundaries.
"""

from __future__ import annotations

import logging
from functools import lru_cache


@lru_cache(maxsize=1)
def _jieba():
    import jieba  # lazy: building its prefix dictionary costs ~1 s per process; only zh text needs it

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def zh_words(text: str) -> list[str]:
    """jieba's words of `text` (default mode, HMM on), whitespace tokens left out."""
    return [word for word in _jieba().lcut(text) if not word.isspace()]


def word_boundaries(text: str) -> set[int]:
    """Offsets in `text` where a jieba word starts or ends (0 and len(text) included)."""
    bounds = {0, len(text)}
    for _, start, end in _jieba().tokenize(text):
        bounds.add(start)
        bounds.add(end)
    return bounds
