"""Seeded pseudo-random permutations and hashes of document indices, computed on demand in O(1) memory.

`DocumentPermutation` is a Feistel network on pairs ``(x // a, x % a)`` with ``a = ceil(sqrt(n))`` and addition
modulo ``a`` (a square domain of ``a**2 < n + 2 sqrt(n) + 1`` values), walked ("cycle walking") until the value
falls back into ``[0, n)``; that is a bijection on ``[0, n)`` for any ``n``, and with six rounds of a 64-bit
mixer its outputs for consecutive inputs land in unrelated places. The square domain keeps walks rare (a
power-of-two domain can be 4n, and a read would then wait on walks of several steps). Both directions
work element-wise on int64 arrays, so a loader maps only the few positions it reads instead of holding an
``n``-element permutation (2e9 documents = 16 GB per rank).

`uniform_hash` gives every document a seeded 64-bit value: the held-out split takes documents whose value falls
below ``validation_fraction * 2**64`` — deterministic, and the same whichever process computes it.
"""

from __future__ import annotations

import math

import numpy as np

ROUNDS = 6
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on uint64 values (array in, array out; wraps modulo 2**64 by design)."""
    z = np.asarray(values, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def stream_keys(seed_words: list[int], count: int) -> np.ndarray:
    """`count` independent uint64 keys derived from integer seed words (numpy's SeedSequence)."""
    return np.random.SeedSequence([int(w) for w in seed_words]).generate_state(count, dtype=np.uint64)


def uniform_hash(docs: np.ndarray, key: np.uint64) -> np.ndarray:
    """A seeded, uniformly distributed uint64 per document index."""
    return mix64(mix64(np.asarray(docs, dtype=np.int64).astype(np.uint64) ^ key) + key)


class DocumentPermutation:
    """A seeded bijection on ``[0, n)``: ``perm(positions) -> documents`` and ``perm.inverse(documents)``."""

    def __init__(self, n: int, seed_words: list[int]):
        if n < 1:
            raise ValueError(f"a permutation needs n >= 1, got {n}")
        self.n = int(n)
        self._side = np.uint64(math.isqrt(self.n - 1) + 1)  # side**2 >= n
        self._keys = stream_keys(seed_words, ROUNDS)

    def _round(self, half: np.ndarray, key: np.uint64) -> np.ndarray:
        return mix64(half ^ key) % self._side

    def _encrypt(self, x: np.ndarray) -> np.ndarray:
        left, right = x // self._side, x % self._side
        for key in self._keys:
            left, right = right, (left + self._round(right, key)) % self._side
        return left * self._side + right

    def _decrypt(self, y: np.ndarray) -> np.ndarray:
        left, right = y // self._side, y % self._side
        for key in self._keys[::-1]:
            left, right = (right + self._side - self._round(left, key)) % self._side, left
        return left * self._side + right

    def _walk(self, values: np.ndarray, step) -> np.ndarray:
        values = np.asarray(values, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() >= self.n):
            raise IndexError(f"permutation input out of range [0, {self.n})")
        out = step(values.astype(np.uint64))
        limit = np.uint64(self.n)
        outside = np.flatnonzero(out >= limit)
        while outside.size:  # each cycle through the domain returns to [0, n): at most a few steps on average
            out[outside] = step(out[outside])
            outside = outside[out[outside] >= limit]
        return out.astype(np.int64)

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        return self._walk(positions, self._encrypt)

    def inverse(self, documents: np.ndarray) -> np.ndarray:
        return self._walk(documents, self._decrypt)
