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

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace

RUNGS = 5
# A baseline ladder (a store's typical batch, a host's remembered quiet one): per rung, this percentile of the
# batches' figures. The median, so that labels describe a typical moment of the machine: in a quiet quick start
# the larger rungs' median batch was 3.5-7 % above their 10th percentile (the fastest episodes), used before.
BASELINE_QUANTILE = 50
T = TypeVar("T", int, float)


def _pick(choices: Sequence[T], q: float) -> T:
    values = sorted(choices)
    return values[round(q * (len(values) - 1))]


def ladder(space: SearchSpace, rungs: int = RUNGS) -> list[SubnetConfig]:
    """``rungs`` subnets from the smallest (rung 0, the space's min config) to the largest: rung j takes
    every dimension at the same quantile j / (rungs - 1) of its choices. Duplicates are dropped."""
    out: list[SubnetConfig] = []
    for j in range(rungs):
        q = j / max(1, rungs - 1)
        d = _pick(space.depth, q)
        cfg = SubnetConfig(
            _pick(space.embed_dim, q), d, (_pick(space.mlp_ratio, q),) * d, (_pick(space.num_heads, q),) * d
        )
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
