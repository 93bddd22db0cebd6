"""Choose LSH bands x rows for a Jaccard threshold, the way datasketch does.

A pair with Jaccard s collides in at least one of b bands of r rows with probability 1 - (1 - s^r)^b.
False-positive mass is that probability integrated over s < threshold; false-negative mass is its complement
integrated over s >= threshold. We pick the (b, r) with b*r <= num_perm minimising the weighted sum.
"""

from __future__ import annotations

import numpy as np

_GRID = 201  # integration points per interval; datasketch uses scipy.quad, the choice agrees at this density


def collision_probability(similarity: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    return 1.0 - (1.0 - np.power(similarity, rows)) ** bands


def _integral(fn, lo: float, hi: float) -> float:
    if hi <= lo:
        return 0.0
    xs = np.linspace(lo, hi, _GRID)
    ys = fn(xs)
    return float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2.0)


def optimal_bands_rows(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    best, best_error = (1, 1), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = _integral(lambda s, b=bands, r=rows: collision_probability(s, b, r), 0.0, threshold)
            fn = _integral(lambda s, b=bands, r=rows: 1.0 - collision_probability(s, b, r), threshold, 1.0)
            error = false_positive_weight * fp + false_negative_weight * fn
            if error < best_error:
                best, best_error = (bands, rows), error
    return best
