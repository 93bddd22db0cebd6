"""64-bit shingle hashing and MinHash signatures, vectorised with numpy.

All arithmetic is on uint64 arrays and wraps modulo 2**64 on purpose (numpy does not warn for arrays).

Tokens are hashed all at once: numpy lays the tokens out as a (tokens x max length) matrix of code points,
a dot product with random odd 64-bit multipliers followed by the splitmix64 finaliser gives each token a
64-bit id (a per-token xxh3-64 call in Python cost 1.3 us/token, 5x more; it remains the path for tokens
longer than 64 characters). An n-gram's hash mixes its tokens' ids the same way, so shingling costs one
numpy pass per position in the n-gram instead of one hash call per shingle. Permutation k maps a shingle
hash h to (a_k * h + b_k) mod 2**64 — odd a_k makes it a bijection, and h is already avalanche-mixed, so
the order it induces is as good as random for min-wise hashing (tested: unbiased Jaccard estimate) — and the
signature is the minimum over shingles, computed for all permutations at once as an (n_shingles, num_perm)
matrix.
"""

from __future__ import annotations

import re

import numpy as np
import xxhash

from data_pipeline.dedup.text import CJK_CODEPOINT_RANGES, language_from_counts, shingle_tokens

_U64 = np.uint64
# Upper bound on the (shingles x permutations) scratch matrix, so very long documents stay in small memory.
_MAX_MATRIX_ELEMENTS = 1 << 21
_MAX_VECTOR_TOKEN_CHARS = 64
_CJK_BOUNDS = np.array(sorted(b for lo, hi in CJK_CODEPOINT_RANGES for b in (lo, hi + 1)), dtype=np.uint32)
_CJK_TOKEN = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_CODEPOINT_RANGES) + "]")


def mix64(x: np.ndarray, inplace: bool = False) -> np.ndarray:
    """splitmix64 finaliser: a bijective avalanche on uint64 arrays (wrap-around arithmetic is intended)."""
    x = x if inplace else x.astype(_U64, copy=True)
    x ^= x >> _U64(30)
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


class ShingleHasher:
    """Text -> sorted unique uint64 shingle hashes (character n-grams for zh, word n-grams for en)."""

    def __init__(self, ngram_zh: int, ngram_en: int, seed: int):
        self.ngram_zh, self.ngram_en = ngram_zh, ngram_en
        rng = np.random.default_rng([seed, 0x5EED])
        width = max(ngram_zh, ngram_en)
        self._position_mult = rng.integers(1, 2**63, size=width, dtype=np.uint64) * _U64(2) + _U64(1)
        self._char_mult = rng.integers(1, 2**63, size=_MAX_VECTOR_TOKEN_CHARS, dtype=np.uint64) * _U64(2) + _U64(1)

    def token_hashes(self, tokens: list[str]) -> tuple[np.ndarray, int]:
        """(uint64 id per token, number of CJK tokens)."""
        if not tokens:
            return np.empty(0, dtype=_U64), 0
        table = np.array(tokens)  # fixed-width UTF-32, zero padded
        width = table.dtype.itemsize // 4
        if width > _MAX_VECTOR_TOKEN_CHARS:
            ids = np.fromiter((xxhash.xxh3_64_intdigest(t.encode()) for t in tokens), dtype=_U64, count=len(tokens))
            return ids, len(_CJK_TOKEN.findall("".join(tokens)))
        codes = table.view(np.uint32).reshape(len(tokens), width)
        # A first code point inside a CJK range <=> an odd insertion point among the sorted range bounds
        # (a CJK character is always a token alone).
        cjk = int(np.count_nonzero(np.searchsorted(_CJK_BOUNDS, codes[:, 0], side="right") & 1))
        ids = codes.astype(_U64) @ self._char_mult[:width]
        return mix64(ids, inplace=True), cjk

    def ngram_hashes(self, token_ids: np.ndarray, n: int) -> np.ndarray:
        """All n-gram hashes of a token-hash sequence (one shingle of everything when shorter than n)."""
        n = min(n, len(token_ids))
        if n == 0:
            return np.empty(0, dtype=_U64)
        count = len(token_ids) - n + 1
        acc = token_ids[:count] * self._position_mult[0]
        for j in range(1, n):
            acc += token_ids[j : j + count] * self._position_mult[j]
        return mix64(acc, inplace=True)

    def shingles(self, text: str, lang: str | None = None) -> np.ndarray:
        tokens = shingle_tokens(text)
        ids, cjk = self.token_hashes(tokens)
        n = self.ngram_zh if language_from_counts(lang, cjk, len(tokens)) == "zh" else self.ngram_en
        return sorted_unique(self.ngram_hashes(ids, n))


class MinHasher:
    """num_perm MinHash values of a shingle-hash set, and LSH band keys derived from them."""

    def __init__(self, num_perm: int, seed: int):
        rng = np.random.default_rng([seed, 0x3141])
        self.num_perm = num_perm
        self._a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * _U64(2) + _U64(1)
        self._b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * _U64(2)
        self._band_mult = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * _U64(2) + _U64(1)

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """uint64[num_perm]; all-ones (the empty-set signature) when there are no shingles."""
        signature = np.full(self.num_perm, np.iinfo(np.uint64).max, dtype=_U64)
        step = max(1, _MAX_MATRIX_ELEMENTS // self.num_perm)
        for start in range(0, len(shingles), step):
            h = shingles[start : start + step, None]
            permuted = np.multiply(h, self._a)
            np.add(permuted, self._b, out=permuted)
            np.minimum(signature, permuted.min(axis=0), out=signature)
        return signature

    def band_keys(self, signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
        """uint64[n_docs, bands]: one hash per band of `rows` consecutive signature values."""
        signatures = np.atleast_2d(signatures)[:, : bands * rows].reshape(-1, bands, rows)
        combined = (signatures * self._band_mult[:rows]).sum(axis=2, dtype=_U64)
        return mix64(combined, inplace=True)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique for small uint64 arrays, without its generic-path overhead."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique hash arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
