"""Which subnets to profile: the extremes, every choice of every dimension, then uniform samples.

``plan(space, n, seed)`` is deterministic and prefix-stable: the first n of a larger plan are the plan of
n. So ``hwnas profile -n 50`` killed and restarted measures the same 50 (skipping those stored), and
``-n 100`` later adds 50 more. Order:

1. ``min_config`` and ``max_config`` (a predictor must not extrapolate to the ends of the range);
2. coverage: one subnet per choice of each dimension (embed dim, depth, and per-layer MLP ratio and
   heads, set in every layer), the other dimensions drawn at random, dimensions taken in turn;
3. uniform samples (AutoFormer's sampler), no duplicates.
"""

from __future__ import annotations

from itertools import zip_longest

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace


def coverage(space: SearchSpace, rng: np.random.Generator) -> list[SubnetConfig]:
    """One random subnet per choice of each dimension, interleaved across dimensions."""

    def with_(**fix: float) -> SubnetConfig:
        c = space.sample(rng)
        depth = int(fix.get("depth", c.depth))
        if depth != c.depth:
            c = SubnetConfig(
                c.embed_dim, depth, tuple(rng.choice(space.mlp_ratio, depth)), tuple(rng.choice(space.num_heads, depth))
            )
        mlp = (float(fix["mlp"]),) * depth if "mlp" in fix else c.mlp_ratio
        heads = (int(fix["heads"]),) * depth if "heads" in fix else c.num_heads
        return SubnetConfig(int(fix.get("embed", c.embed_dim)), depth, mlp, heads)

    per_dim = [
        [with_(embed=e) for e in space.embed_dim],
        [with_(depth=d) for d in space.depth],
        [with_(mlp=r) for r in space.mlp_ratio],
        [with_(heads=h) for h in space.num_heads],
    ]
    return [c for group in zip_longest(*per_dim) for c in group if c is not None]


def plan(space: SearchSpace, n: int, seed: int = 0) -> list[SubnetConfig]:
    """The first ``n`` subnets to profile (fewer only if the space has fewer distinct subnets)."""
    rng = np.random.default_rng(seed)
    out: list[SubnetConfig] = []
    seen: set[str] = set()
    for cfg in [space.min_config(), space.max_config(), *coverage(space, rng)]:
        if len(out) >= n:
            return out
        if cfg.key() not in seen:
            seen.add(cfg.key())
            out.append(cfg)
    return out + space.sample_unique(n - len(out), rng, exclude=seen)
