"""The token n-grams decontamination compares, hashed to uint64 with the dedup shingle hasher.

Text is folded as dedup folds it (NFKC — full-width letters, digits and punctuation become ASCII —,
Traditional → Simplified, casefold) and split into tokens that ignore punctuation and whitespace: each CJK
character alone, any other run of letters/digits one word (data_pipeline/dedup/text.py). Single Latin letters
are dropped as well: they are the option labels ("A." "B．" "(C)") a copied test item carries in one layout and
not in another. So whitespace, line breaks, punctuation width and option labels do not change an item's n-grams.
An n-gram is `ngram_zh` tokens of Chinese text or `ngram_en` words of any other (the item's majority script
decides; a document is hashed with both sizes, so an English item inside a Chinese page is found).
An item shorter than its n (CMMLU: "羊的妊娠期是" and four short options) is indexed whole, as one n-gram of its
own length, when it has at least `min_item_tokens` tokens: a page must then hold the whole item to match, and
documents are hashed at each such length as well.
"""

from __future__ import annotations

import numpy as np

from data_pipeline.dedup.hashing import ShingleHasher
from data_pipeline.dedup.text import language_from_counts, shingle_tokens

_SEED = 0xDEC0  # fixed: an index file and the documents must hash alike


def tokens_of(text: str) -> list[str]:
    return [t for t in shingle_tokens(text) if not (len(t) == 1 and t.isascii() and t.isalpha())]


class NgramHasher:
    def __init__(self, ngram_zh: int, ngram_en: int, min_item_tokens: int):
        self.sizes = sorted({ngram_zh, ngram_en})
        self.ngram_zh, self.ngram_en, self.min_item_tokens = ngram_zh, ngram_en, min_item_tokens
        self._hasher = ShingleHasher(ngram_zh, ngram_en, _SEED)

    def token_ids(self, tokens: list[str]) -> tuple[np.ndarray, int]:
        """(uint64 per token, CJK tokens among them)."""
        return self._hasher.token_hashes(tokens)

    def item_ngrams(self, text: str) -> tuple[np.ndarray, int]:
        """(the n-grams of one benchmark item at its language's size, that size); an item shorter than n is one
        n-gram of its length, or none (size 0) below `min_item_tokens`."""
        tokens = tokens_of(text)
        ids, cjk = self.token_ids(tokens)
        n = self.ngram_zh if language_from_counts(None, cjk, len(tokens)) == "zh" else self.ngram_en
        if len(ids) < n:
            n = len(ids) if len(ids) >= self.min_item_tokens else 0
        return (self._hasher.ngram_hashes(ids, n), n) if n else (np.empty(0, dtype=np.uint64), 0)

    def ngrams_at(self, ids: np.ndarray, n: int) -> np.ndarray:
        """n-gram hashes starting at every token position (empty when fewer than n tokens)."""
        return self._hasher.ngram_hashes(ids, n) if len(ids) >= n else np.empty(0, dtype=np.uint64)
