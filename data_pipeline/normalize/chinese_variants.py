"""Traditional → Simplified Chinese, with OpenCC (a pinned dependency whose wheel ships its dictionaries).

Two uses, kept apart:
- `to_simplified` rewrites a document's text, only when `normalize.traditional_to_simplified` asks for it;
- `matching_key` is the spelling that word lists, boilerplate phrases and dedup compare on, so a Traditional
  page (百家樂, 版權所有) matches the Simplified lists while its text is written unchanged.

OpenCC converts phrase by phrase (乾燥→干燥 but 乾隆 stays, 頭髮→头发), which a character table cannot do;
a table also misses characters (the old fallback wrote "位於臺湾" for 位於臺灣).
"""

from __future__ import annotations

import re
from functools import lru_cache

# OpenCC takes UTF-8, which cannot carry a lone surrogate (one a JSON "\\ud800" escape can put in a str); the
# text between them is converted and the surrogates pass through untouched.
_SURROGATES = re.compile("([\ud800-\udfff]+)")


@lru_cache(maxsize=1)
def _t2s():
    import opencc  # lazy: loading its dictionaries costs ~0.1 s per process; only zh text needs it

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """`text` in Simplified characters (ASCII-only text is returned as is, without calling OpenCC)."""
    if text.isascii():
        return text
    try:
        return _t2s().convert(text)
    except UnicodeEncodeError:
        parts = _SURROGATES.split(text)  # odd positions are the surrogate runs
        return "".join(part if i % 2 else _t2s().convert(part) for i, part in enumerate(parts))


def matching_key(text: str) -> str:
    """The spelling to compare `text` on: Simplified and lower-cased (matches are found in the key, never
    mapped back to offsets of `text`)."""
    return to_simplified(text).lower()
