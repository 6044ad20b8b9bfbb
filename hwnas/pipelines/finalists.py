"""The finalists of an accuracy search compared paired on the validation images, and the optional
tie-break that prefers the faster of the subnets the images cannot tell apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.search import Candidate
from hwnas.search.significance import ALPHA, compare_to_best, tied_with_best

FINALISTS = 10  # the best candidates by fitness that the report compares


@dataclass
class AccuracyCheck:
    """What the validation images can and cannot tell apart among the finalists."""

    split: str
    images: int
    alpha: float
    finalists: list[dict[str, Any]]  # Comparison rows, best first
    tie_tolerance: float | None = None  # points; None: no tie-break, the best by top-1 leads
    tied: list[str] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("split", "images", "alpha", "finalists", "tie_tolerance", "tied", "note")}


def check_finalists(
    ranked: Sequence[Candidate],
    hits: Callable[[SubnetConfig], np.ndarray],
    images: int,
    tie_tolerance: float | None = None,
    count: int = FINALISTS,
    split: str = "val",
) -> tuple[list[Candidate], AccuracyCheck]:
    """Compare the top ``count`` of ``ranked`` with the best; with ``tie_tolerance`` (points), move the
    lowest-latency subnet among those tied with the best to the front. Returns the (re)ordered ranking."""
    top = list(ranked[:count])
    rows = compare_to_best(top[0].key, {c.key: hits(c.config) for c in top}) if top else []
    order = list(ranked)
    tied: list[str] = []
    if top and tie_tolerance is not None:
        tied = tied_with_best(rows, tie_tolerance)
        by_key = {c.key: c for c in top}
        pick = min((by_key[k] for k in tied), key=lambda c: (_cost(c), -c.fitness))
        order = [pick, *(c for c in ranked if c.key != pick.key)]
    check = AccuracyCheck(split, images, ALPHA, [r.to_dict() for r in rows], tie_tolerance, tied)
    check.note = _note(rows, order[0].key if order else None, tied, tie_tolerance)
    return order, check


def _cost(c: Candidate) -> tuple[float, ...]:
    """Predicted latency on each budgeted device in order (MACs when there is none)."""
    return tuple(c.latency_ms.values()) if c.latency_ms else (float(c.macs),)


def _note(rows: list, lead: str | None, tied: list[str], tolerance: float | None) -> str:
    if not rows:
        return "no candidate was scored"
    if len(rows) == 1:
        return "only one candidate was scored"
    runners = rows[1:]
    same = [r for r in runners if not r.distinguishable]
    best = rows[0]
    text = (
        f"the best by top-1 ({best.key}, {best.top1:.2f} %) is distinguishable from all {len(runners)} runners-up"
        if not same
        else f"the best by top-1 ({best.key}, {best.top1:.2f} %) is NOT distinguishable from {len(same)} of the "
        f"{len(runners)} runners-up (McNemar p >= {ALPHA:g}; up to {max(r.diff_vs_best for r in same):.2f} "
        f"points lower)"
    )
    if tolerance is not None and lead is not None and lead != best.key:
        text += (
            f"; --tie-tolerance {tolerance:g}: {lead} leads, the lowest-latency of the {len(tied)} subnets "
            f"tied with the best"
        )
    elif tolerance is not None:
        text += f"; --tie-tolerance {tolerance:g}: the best is also the fastest of the {len(tied)} tied"
    return text
