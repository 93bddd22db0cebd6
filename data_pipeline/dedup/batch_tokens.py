"""`text.shingle_tokens` for a whole batch of documents at once, as numpy arrays instead of Python strings.

Calling the tokenising regex per document and turning its list of strings into a numpy table cost more than
hashing the shingles. Here the batch's normalised texts are joined and read as one array of code points;
a lookup table classifies every code point (a CJK character, another letter/digit, or a separator), and
tokens are the CJK characters alone plus the maximal runs of other letters/digits, never crossing a document
boundary: exactly what `[CJK]|[^\\W_CJK]+` finds (tested against it on real text and on every code point).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from data_pipeline.dedup.text import CJK_CODEPOINT_RANGES, fold

SEPARATOR, WORD, CJK = 0, 1, 2


@cache
def codepoint_classes() -> np.ndarray:
    """uint8[0x110000]: CJK for the CJK ranges, WORD for the other letters/digits (regex `[^\\W_]`, which is
    str.isalnum), SEPARATOR otherwise. Built once per process (~40 ms)."""
    every_codepoint = np.arange(0x110000, dtype=np.uint32).view("<U1")  # code point 0 reads as "": not alnum
    classes = np.char.isalnum(every_codepoint).astype(np.uint8) * np.uint8(WORD)
    for lo, hi in CJK_CODEPOINT_RANGES:
        classes[lo : hi + 1] = CJK
    return classes


@dataclass(frozen=True)
class TokenBatch:
    """The tokens of a batch of documents, in document order. Positions index `codes` (the normalised
    texts joined); `doc_token_ends[d]` is one past the last token of document d."""

    normalized: list[str]  # NFKC + casefold of each document (what the tokens are cut from)
    char_starts: np.ndarray  # int64[docs]: where each document begins in `codes`
    codes: np.ndarray  # uint32[chars]: code points of the joined normalised texts
    token_starts: np.ndarray  # int64[tokens]
    token_lengths: np.ndarray  # int64[tokens], in code points
    doc_token_ends: np.ndarray  # int64[docs]
    cjk_tokens: np.ndarray  # int64[docs]: tokens that are CJK characters

    def token_counts(self) -> np.ndarray:
        return np.diff(self.doc_token_ends, prepend=0)

    def token_text(self, doc: int, token: int) -> str:
        start = int(self.token_starts[token] - self.char_starts[doc])
        return self.normalized[doc][start : start + int(self.token_lengths[token])]


def tokenize_batch(texts: list[str]) -> TokenBatch:
    normalized = [fold(text) for text in texts]
    lengths = np.fromiter(map(len, normalized), dtype=np.int64, count=len(normalized))
    char_ends = np.cumsum(lengths)
    char_starts = char_ends - lengths
    # surrogatepass: a lone surrogate (possible in JSON input) is a separator, as the regex treats it.
    codes = np.frombuffer("".join(normalized).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = codepoint_classes()[codes]
    is_word = classes == WORD
    # A token starts at every CJK character, and at a letter/digit that does not continue a run of them
    # within the same document.
    continues = np.zeros(len(codes), dtype=bool)
    continues[1:] = is_word[1:] & is_word[:-1]
    continues[char_starts[lengths > 0]] = False
    token_chars = classes != SEPARATOR
    token_starts = np.flatnonzero(token_chars & ~continues)
    # ...and ends at a token character that the next character does not continue (a CJK character always).
    token_lasts = np.flatnonzero(token_chars & ~np.append(continues[1:], False))
    token_lengths = token_lasts - token_starts + 1
    doc_of_token = np.searchsorted(char_ends, token_starts, side="right")
    doc_token_ends = np.cumsum(np.bincount(doc_of_token, minlength=len(texts)))
    cjk = np.bincount(doc_of_token[classes[token_starts] == CJK], minlength=len(texts))
    return TokenBatch(normalized, char_starts, codes, token_starts, token_lengths, doc_token_ends, cjk)

