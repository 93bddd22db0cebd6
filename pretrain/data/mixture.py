"""The mixture: which source each global sample comes from, as a pure function of (seed, fractions).

Fractions come from the config (`target_fraction`, or `weight` × natural size for the rest). The global sample
stream is cut into blocks of `block_size`; the number of samples source ``s`` gets in the first ``b`` blocks is
the largest-remainder rounding of ``fraction_s * b * block_size`` — exact to within one sample at every block
boundary, with no drift — and inside each block the order of sources is a seeded shuffle. So sample ``g`` maps
to ``(source, k)`` ("the k-th sample of that source") in O(block_size) from nothing but ``g``: resuming anywhere,
on any number of ranks, needs no replay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pretrain.data.config import SourceConfig
from pretrain.data.errors import DataConfigError

_MIXTURE_STREAM = 0x6D6978  # "mix": separates this RNG stream from the per-source ones


def resolve_fractions(sources: Sequence[SourceConfig], train_tokens: Sequence[int]) -> list[float]:
    """Sampling fraction per source (sums to 1), from target fractions and natural-size weights."""
    fixed = [s.target_fraction for s in sources if s.target_fraction is not None]
    for s in sources:
        if s.target_fraction is not None and s.weight is not None:
            raise DataConfigError(f"source {s.name!r} sets both weight and target_fraction — keep one")
        if s.target_fraction is not None and not 0 < s.target_fraction <= 1:
            raise DataConfigError(
                f"source {s.name!r}: target_fraction must be in (0, 1], got {s.target_fraction}"
            )
        if s.weight is not None and not s.weight > 0:
            raise DataConfigError(f"source {s.name!r}: weight must be positive, got {s.weight}")
    fixed_total = sum(fixed)
    weighted = [
        (i, (s.weight if s.weight is not None else 1.0) * train_tokens[i])
        for i, s in enumerate(sources)
        if s.target_fraction is None
    ]
    if fixed_total > 1 + 1e-9:
        raise DataConfigError(
            f"target fractions sum to {fixed_total:g} > 1 — lower them so they sum to at most 1"
        )
    if not weighted and abs(fixed_total - 1) > 1e-6:
        raise DataConfigError(
            f"target fractions sum to {fixed_total:g}, not 1 — make them sum to 1 or give a weight source"
        )
    if weighted and fixed_total > 1 - 1e-9:
        names = [sources[i].name for i, _ in weighted]
        raise DataConfigError(f"target fractions already sum to 1, leaving nothing for {names} — lower them")
    fractions = [s.target_fraction or 0.0 for s in sources]
    mass = sum(m for _, m in weighted)
    for i, m in weighted:
        fractions[i] = (1 - fixed_total) * m / mass
    total = sum(fractions)
    return [f / total for f in fractions]


def cumulative_counts(fractions: np.ndarray, samples: int) -> np.ndarray:
    """Per-source counts among the first `samples` global samples: largest-remainder rounding, ties by index."""
    targets = fractions * samples
    counts = np.floor(targets).astype(np.int64)
    missing = samples - int(counts.sum())
    if missing > 0:
        order = np.lexsort((np.arange(len(fractions)), -(targets - counts)))
        counts[order[:missing]] += 1
    return counts


class MixtureSchedule:
    """Maps a global sample index to (source index, index of that sample within the source)."""

    def __init__(self, fractions: Sequence[float], block_size: int, seed: int):
        self.fractions = np.asarray(fractions, dtype=np.float64)
        positive = self.fractions[self.fractions > 0]
        # Large enough that every source's per-block count stays non-negative under the cumulative rounding.
        self.block_size = max(int(block_size), math.ceil(2 / positive.min()) if positive.size else 1)
        self.seed = seed
        self._cached_block = -1
        self._block_sources = np.zeros(0, np.int64)
        self._block_ranks = np.zeros(0, np.int64)
        self._block_base = np.zeros(len(fractions), np.int64)

    def _load_block(self, block: int) -> None:
        start = cumulative_counts(self.fractions, block * self.block_size)
        counts = cumulative_counts(self.fractions, (block + 1) * self.block_size) - start
        assert (counts >= 0).all(), "mixture block too small for the smallest fraction"
        sources = np.repeat(np.arange(len(counts)), counts)
        sources = np.random.default_rng([self.seed, _MIXTURE_STREAM, block]).permutation(sources)
        # rank[i] = how many samples of the same source precede position i inside the block
        ranks = np.empty_like(sources)
        for s in range(len(counts)):
            where = np.flatnonzero(sources == s)
            ranks[where] = np.arange(where.size)
        self._cached_block, self._block_sources, self._block_ranks, self._block_base = (
            block,
            sources,
            ranks,
            start,
        )

    def locate(self, global_sample: int) -> tuple[int, int]:
        block, offset = divmod(int(global_sample), self.block_size)
        if block != self._cached_block:
            self._load_block(block)
        source = int(self._block_sources[offset])
        return source, int(self._block_base[source] + self._block_ranks[offset])
