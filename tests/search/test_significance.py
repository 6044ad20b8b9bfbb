"""Paired accuracy statistics against values known independently of the code."""

import numpy as np
import pytest

from hwnas.search.significance import (
    compare_to_best,
    mcnemar_p,
    paired_difference,
    tied_with_best,
    top1,
    wilson_interval,
)


def test_wilson_interval_matches_textbook_values():
    lo, hi = wilson_interval([False] * 10)  # 0/10: the classic (0, 27.75 %)
    assert lo == pytest.approx(0.0, abs=1e-9) and hi == pytest.approx(27.75, abs=0.01)
    lo, hi = wilson_interval([True] * 50 + [False] * 50)  # 50/100: 40.38-59.62 %
    assert (lo, hi) == pytest.approx((40.38, 59.62), abs=0.01)


def test_mcnemar_uses_only_disagreements():
    a = np.array([True] * 10 + [True] * 80 + [False] * 10)
    b = np.array([False] * 10 + [True] * 80 + [False] * 10)
    assert mcnemar_p(a, b) == pytest.approx(2 * 0.5**10)  # 10 discordant pairs, all one way
    assert mcnemar_p(a, a) == 1.0
    # 6 vs 4 disagreements: nowhere near significant
    c = np.array([True] * 6 + [False] * 4 + [True] * 90)
    d = np.array([False] * 6 + [True] * 4 + [True] * 90)
    assert mcnemar_p(c, d) == pytest.approx(0.7539, abs=1e-4)


def test_paired_difference_interval_contains_the_difference():
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.95
    b = a.copy()
    b[np.flatnonzero(a)[:10]] = False  # b misses 10 images a gets right
    d, lo, hi = paired_difference(a, b)
    assert d == pytest.approx(2.0)
    assert lo < d < hi and lo > 0  # 10 one-way disagreements are significant
    assert top1(a) - top1(b) == pytest.approx(d)


def test_compare_and_ties():
    n = 500
    best = np.ones(n, bool)
    best[:20] = False  # 96.0 %
    close = best.copy()
    close[20:23] = False  # 95.4 %: 3 extra misses, noise
    far = best.copy()
    far[20:45] = False  # 91.0 %: clearly worse
    rows = compare_to_best("best", {"far": far, "best": best, "close": close})
    assert [r.key for r in rows] == ["best", "far", "close"]
    by = {r.key: r for r in rows}
    assert not by["best"].distinguishable and by["far"].distinguishable and not by["close"].distinguishable
    assert by["close"].diff_vs_best == pytest.approx(0.6)
    assert tied_with_best(rows, tolerance=1.0) == ["best", "close"]
    assert tied_with_best(rows, tolerance=0.5) == ["best"]


def test_mismatched_images_are_refused():
    with pytest.raises(ValueError):
        mcnemar_p([True, False], [True])
