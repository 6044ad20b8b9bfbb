"""The reference ladder: a few fixed subnets spanning the space's size range, measured in every batch,
and the slowdown curve they give each batch.

Why a ladder and not one reference: on a busy CPU the time of a run grows with contention (a neighbour
on the sibling hardware thread, shared caches and memory bandwidth), and it does not grow by one
factor for every subnet: in a test on a 2-core VM with a busy-loop process, the larger subnets slowed
down by ~10 % while the smallest one barely moved, so dividing by the smallest subnet alone left
most of the disagreement between visits. Measured in the same interleaved rounds, the ladder's rungs
give the batch's slowdown at several sizes; a subnet's slowdown is interpolated between them over
log latency (clamped at the ends), and its figure divided by it (benchmarks/protocol_pairing.py:
disagreement between visits 6.3 % median / 22 % worst with no correction, 4.6 % / 20 % with the
smallest subnet as reference, 1.8 % / 7.4 % with five rungs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace

TOP_QUANTILE = 0.9  # the top rung: a subnet at the 90th percentile of the space's MACs (held beyond it)
RUNG_RATIO = 2.0  # neighbouring rungs at most about this far apart in MACs
MAX_RUNGS = 4
# A baseline ladder (a store's typical batch, a host's remembered quiet one): per rung, this percentile of the
# batches' figures. The median, so that labels describe a typical moment of the machine: in a quiet quick start
# the larger rungs' median batch was 3.5-7 % above their 10th percentile (the fastest episodes), used before.
BASELINE_QUANTILE = 50
SAMPLE = 256  # seeded subnets that give the space's MACs distribution
_GRID = 24  # quantiles tried for balanced candidate rungs
T = TypeVar("T", int, float)


def _pick(choices: Sequence[T], q: float) -> T:
    values = sorted(choices)
    return values[round(q * (len(values) - 1))]


def _balanced(space: SearchSpace, q: float) -> SubnetConfig:
    """Every dimension at the same quantile ``q`` of its choices."""
    d = _pick(space.depth, q)
    return SubnetConfig(
        _pick(space.embed_dim, q), d, (_pick(space.mlp_ratio, q),) * d, (_pick(space.num_heads, q),) * d
    )


def ladder(space: SearchSpace, rungs: int | None = None) -> list[SubnetConfig]:
    """The rungs, cheapest first: rung 0 is the space's min config; the top rung is the balanced subnet
    nearest in MACs to the space's :data:`TOP_QUANTILE` (the largest subnets cost the most to measure in
    every batch, and the slowdown changes little over the top tenth); between them, balanced subnets at
    even steps of log MACs. ``rungs`` (default: enough for steps of at most :data:`RUNG_RATIO`, 2 to
    :data:`MAX_RUNGS`) fixes the count. Deterministic: a seeded sample gives the MACs distribution."""
    from hwnas.core.complexity import count_macs

    rng = np.random.default_rng(0)
    top = float(np.percentile([count_macs(space, space.sample(rng)) for _ in range(SAMPLE)], 100 * TOP_QUANTILE))
    cands: dict[SubnetConfig, float] = {}
    for i in range(_GRID + 1):
        cfg = _balanced(space, i / _GRID)
        cands.setdefault(cfg, math.log(count_macs(space, cfg)))
    low = math.log(count_macs(space, space.min_config()))
    span = max(0.0, math.log(top) - low)
    n = rungs or min(MAX_RUNGS, max(2, 1 + math.ceil(span / math.log(RUNG_RATIO) - 1e-9)))
    out = [space.min_config()]
    for j in range(1, n):
        target = low + span * j / (n - 1)
        cfg = min(cands, key=lambda c: (abs(cands[c] - target), cands[c]))
        if cfg not in out:
            out.append(cfg)
    return out


def slowdown(latency_ms: float, rungs_ms: Sequence[float], baseline_ms: Sequence[float]) -> float:
    """The factor by which a batch whose ladder measured ``rungs_ms`` was slower than the ``baseline_ms``
    (the store's typical figures of the same rungs), at a subnet of ``latency_ms``; 1.0 when unknown."""
    r, b = np.asarray(rungs_ms, float), np.asarray(baseline_ms, float)
    ok = np.isfinite(r) & np.isfinite(b) & (r > 0) & (b > 0)
    if not ok.any() or not (np.isfinite(latency_ms) and latency_ms > 0):
        return 1.0
    x, s = np.log(b[ok]), np.log(r[ok] / b[ok])
    order = np.argsort(x)
    return float(np.exp(np.interp(np.log(latency_ms), x[order], s[order])))


def corrected(latency_ms: float, rungs_ms: Sequence[float], baseline_ms: Sequence[float]) -> float:
    """``latency_ms`` under baseline conditions: divided by the slowdown at its own baseline latency
    (found by a few fixed-point steps, since the measured figure itself is slowed down)."""
    x = latency_ms
    for _ in range(6):
        x = latency_ms / slowdown(x, rungs_ms, baseline_ms)
    return x
