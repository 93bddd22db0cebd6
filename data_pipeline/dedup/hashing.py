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

Two paths compute the same bits. Per document (`ShingleHasher.shingles`, `MinHasher.signature`): simple, used
for sentences, evaluation and as the reference in tests. Per batch of documents (`shingles_batch`,
`signatures`, used by document dedup): the same arithmetic over the batch's concatenated tokens and shingles,
with segmented sums and minima (`np.add.reduceat`, `np.minimum.reduceat`) where the per-document path reduces
a whole array, so the numpy call count per batch does not grow with its documents.
"""

from __future__ import annotations

import re

import numpy as np
import xxhash

from data_pipeline.dedup.batch_tokens import TokenBatch, tokenize_batch
from data_pipeline.dedup.text import CJK_CODEPOINT_RANGES, language_from_counts, shingle_tokens

_U64 = np.uint64
# Upper bound on the (permutations x shingles) scratch matrix (8 MiB), so long documents and batches stay in
# small memory. Not smaller: numpy's uint64 multiply/add ran ~5x faster per element once the contiguous
# inner dimension (the shingles, 8192 of them at 128 permutations) was >= 4096 long (measured, numpy 2.4).
_MAX_MATRIX_ELEMENTS = 1 << 20
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

    def shingles_batch(self, texts: list[str], langs: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """`shingles` of many texts at once: (their sorted unique hashes concatenated, int64 end of each
        text's run). Bit-identical to calling `shingles` per text, with a fixed number of numpy calls per
        batch instead of per document."""
        tokens = tokenize_batch(texts)
        ids = self._batch_token_ids(tokens)
        counts = tokens.token_counts()
        ngram = np.array([self.ngram_zh if language_from_counts(lang, cjk, count) == "zh" else self.ngram_en
                          for lang, cjk, count in zip(langs, tokens.cjk_tokens.tolist(), counts.tolist())],
                         dtype=np.int64)
        ngram = np.minimum(ngram, counts)  # a text shorter than n tokens is one shingle of all of them
        windows = np.where(counts > 0, counts - ngram + 1, 0)
        first_tokens = segment_positions(tokens.doc_token_ends - counts, windows)
        return sorted_unique_segments(self._batch_ngrams(ids, first_tokens, np.repeat(ngram, windows)), windows)

    def _batch_token_ids(self, tokens: TokenBatch) -> np.ndarray:
        """token_hashes for every token of the batch: each token's code points dotted with the character
        multipliers, then mixed; xxh3 per token for documents with a token too long for the multipliers, as
        token_hashes does. The dot products go by character position over the tokens sorted longest first,
        so position p touches only the prefix of tokens longer than p: ~4 numpy passes per character instead
        of the ~11 of a segmented sum."""
        lengths = tokens.token_lengths
        if len(lengths) == 0:
            return np.empty(0, dtype=_U64)
        longest_first = np.argsort(np.minimum(lengths, 255).astype(np.uint8), kind="stable")[::-1]  # radix sort
        starts, sorted_lengths = tokens.token_starts[longest_first], lengths[longest_first]
        dots = tokens.codes[starts].astype(_U64) * self._char_mult[0]
        positions = np.arange(1, min(int(sorted_lengths[0]), _MAX_VECTOR_TOKEN_CHARS))
        for position, longer in zip(positions.tolist(), np.searchsorted(-sorted_lengths, -positions).tolist()):
            dots[:longer] += tokens.codes[starts[:longer] + position].astype(_U64) * self._char_mult[position]
        ids = np.empty_like(dots)
        ids[longest_first] = dots
        mix64(ids, inplace=True)
        doc_token_starts = tokens.doc_token_ends - tokens.token_counts()
        long_docs = np.unique(np.searchsorted(tokens.doc_token_ends, np.flatnonzero(lengths > _MAX_VECTOR_TOKEN_CHARS),
                                              side="right"))
        for doc in long_docs.tolist():
            span = range(int(doc_token_starts[doc]), int(tokens.doc_token_ends[doc]))
            ids[span.start : span.stop] = [xxhash.xxh3_64_intdigest(tokens.token_text(doc, t).encode()) for t in span]
        return ids

    def _batch_ngrams(self, token_ids: np.ndarray, first_tokens: np.ndarray, ngram: np.ndarray) -> np.ndarray:
        """ngram_hashes of the windows starting at token `first_tokens[i]`, `ngram[i]` tokens long."""
        acc = token_ids[first_tokens] * self._position_mult[0]
        for j in range(1, int(ngram.max(initial=0))):
            if ngram.min() > j:
                acc += token_ids[first_tokens + j] * self._position_mult[j]
            else:  # some documents were shorter than n tokens: their single window stops earlier
                longer = ngram > j
                acc[longer] += token_ids[first_tokens[longer] + j] * self._position_mult[j]
        return mix64(acc, inplace=True)


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

    def signatures(self, shingles: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """uint64[len(ends), num_perm]: `signature` of each run shingles[ends[i-1]:ends[i]], computed in
        blocks of whole (num_perm x block) matrices with one segmented minimum per block, so the numpy call
        count does not grow with the number of documents. Runs are cut where a document or a block starts;
        a document spread over several blocks takes the minimum of its pieces."""
        counts = np.diff(ends, prepend=0)
        out = np.full((len(ends), self.num_perm), np.iinfo(np.uint64).max, dtype=_U64)
        if len(shingles) == 0:
            return out
        step = max(1, _MAX_MATRIX_ELEMENTS // self.num_perm)
        block_starts = np.arange(0, len(shingles), step)
        cuts = np.union1d((ends - counts)[counts > 0], block_starts)
        first_cut = np.append(np.searchsorted(cuts, block_starts), len(cuts))
        minima = np.empty((len(cuts), self.num_perm), dtype=_U64)
        for block, start in enumerate(block_starts.tolist()):
            permuted = np.multiply(self._a[:, None], shingles[None, start : start + step])
            np.add(permuted, self._b[:, None], out=permuted)
            lo, hi = first_cut[block], first_cut[block + 1]
            minima[lo:hi] = np.minimum.reduceat(permuted, cuts[lo:hi] - start, axis=1).T
        doc_of_cut = np.searchsorted(ends, cuts, side="right")
        first_of_doc = np.flatnonzero(np.diff(doc_of_cut, prepend=-1))
        out[doc_of_cut[first_of_doc]] = (minima if len(first_of_doc) == len(cuts)
                                         else np.minimum.reduceat(minima, first_of_doc, axis=0))
        return out

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


def segment_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated arange(starts[i], starts[i] + lengths[i]) for all i, without a Python loop."""
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))


def sorted_unique_segments(values: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sorted_unique of each run values[sum(lengths[:i]) : ...][: lengths[i]]: (the results concatenated,
    int64 end of each run's result). Sorts in place."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    for start, end in zip(starts[lengths > 1].tolist(), ends[lengths > 1].tolist()):
        values[start:end].sort()
    keep = np.ones(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    keep[starts[lengths > 0]] = True
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    return values[keep], kept_before[ends]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique hash arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    if len(a) > len(b):
        a, b = b, a
    # Both sorted: look each value of the shorter one up in the longer one (cheaper than intersect1d's sort).
    at = np.searchsorted(b, a)
    inter = int(np.count_nonzero(b[np.minimum(at, len(b) - 1)] == a)) if len(b) else 0
    return inter / (len(a) + len(b) - inter)
