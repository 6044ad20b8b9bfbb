"""Accuracy with its noise: candidates are scored on the same validation images, so they are compared
paired, image by image, rather than by their raw top-1 alone.

Each candidate is represented by its per-image hit vector (True where its top-1 prediction is right).
- ``wilson_interval``: a 95 % interval for one candidate's top-1 (binomial sampling of the images).
- ``mcnemar_p``: the exact two-sided McNemar test of two candidates on the same images; only the
  images on which they disagree carry information, which makes it far more sensitive than comparing
  two independent intervals.
- ``paired_difference``: the top-1 difference with a 95 % interval from the paired standard error.
- ``compare_to_best``: every finalist against the best, and whether the best is distinguishable.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy.stats import binomtest

ALPHA = 0.05
Z95 = 1.959963984540054


def _hits(h: Sequence[bool] | np.ndarray) -> np.ndarray:
    a = np.asarray(h, dtype=bool)
    if a.ndim != 1 or a.size == 0:
        raise ValueError("a hit vector is a non-empty 1-D sequence of booleans")
    return a


def top1(hits: Sequence[bool] | np.ndarray) -> float:
    """Top-1 in percent."""
    return 100.0 * float(_hits(hits).mean())


def wilson_interval(hits: Sequence[bool] | np.ndarray, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of top-1, in percent (well-behaved near 100 %, unlike the normal one)."""
    a = _hits(hits)
    n, p = a.size, float(a.mean())
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


def _discordant(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    if a.shape != b.shape:
        raise ValueError(f"hit vectors cover different images ({a.size} vs {b.size})")
    return int((a & ~b).sum()), int((~a & b).sum())


def mcnemar_p(a: Sequence[bool] | np.ndarray, b: Sequence[bool] | np.ndarray) -> float:
    """Exact two-sided McNemar p-value: how likely a split of the disagreeing images at least this
    lopsided is if the two candidates were equally accurate. 1.0 when they never disagree."""
    only_a, only_b = _discordant(_hits(a), _hits(b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def paired_difference(
    a: Sequence[bool] | np.ndarray, b: Sequence[bool] | np.ndarray, z: float = Z95
) -> tuple[float, float, float]:
    """top-1(a) - top-1(b) in points, with a 95 % interval from the paired standard error."""
    x, y = _hits(a), _hits(b)
    only_a, only_b = _discordant(x, y)
    n = x.size
    d = (only_a - only_b) / n
    se = math.sqrt(max(0.0, (only_a + only_b) / n - d * d) / n)
    return 100.0 * d, 100.0 * (d - z * se), 100.0 * (d + z * se)


@dataclass(frozen=True)
class Comparison:
    """One finalist against the best candidate on the same images."""

    key: str
    top1: float
    ci_low: float
    ci_high: float
    diff_vs_best: float  # best - this, points
    diff_ci_low: float
    diff_ci_high: float
    p_vs_best: float  # exact McNemar
    distinguishable: bool  # p < alpha: really worse than the best, not just noise

    def to_dict(self) -> dict:
        return asdict(self)


def compare_to_best(
    best: str, hits: Mapping[str, Sequence[bool] | np.ndarray], alpha: float = ALPHA
) -> list[Comparison]:
    """Every candidate in ``hits`` (best included, first) compared with ``best``, in the given order."""
    ref = _hits(hits[best])
    rows = []
    for key in [best, *(k for k in hits if k != best)]:
        h = _hits(hits[key])
        lo, hi = wilson_interval(h)
        d, dlo, dhi = paired_difference(ref, h)
        p = mcnemar_p(ref, h)
        rows.append(Comparison(key, top1(h), lo, hi, d, dlo, dhi, p, key != best and p < alpha))
    return rows


def tied_with_best(rows: Sequence[Comparison], tolerance: float) -> list[str]:
    """Keys not distinguishable from the best (McNemar p >= alpha) and at most ``tolerance`` points
    below it: the set among which a tie-break may prefer the faster subnet."""
    return [r.key for r in rows if not r.distinguishable and r.diff_vs_best <= tolerance]
