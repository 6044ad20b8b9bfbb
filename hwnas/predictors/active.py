"""Which subnets to measure next: those that pin the adapted cost model best.

Greedy D-optimal design over a candidate pool: the posterior covariance of the model's parameters
(global scale and per-term deviations, :mod:`hwnas.predictors.transfer`) after the labels already held;
each pick is the candidate whose predicted latency the model knows least (largest variance, in relative
units), after which the covariance is updated as if it were measured (Sherman-Morrison). Picking the
largest variance each time maximises the determinant of the information gained, one subnet at a time.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.predictors.transfer import PRIOR_LAMBDA, Prior, cost_terms, posterior_precision

CANDIDATES = 2000  # pool drawn from the space when none is given


def candidate_pool(space: SearchSpace, exclude: set[str], n: int = CANDIDATES, seed: int = 0) -> list[SubnetConfig]:
    """The smallest, the largest and ``n`` uniform subnets of ``space``, less those in ``exclude``."""
    rng = np.random.default_rng(seed)
    pool = [space.min_config(), space.max_config(), *space.sample_unique(n, rng, exclude=exclude)]
    seen, out = set(exclude), []
    for c in pool:
        if c.key() not in seen:
            seen.add(c.key())
            out.append(c)
    return out


def _rows(prior: Prior, X: np.ndarray, a0: float) -> np.ndarray:
    """Candidates as design rows in relative units (divided by the predicted latency)."""
    pred = X @ prior.coef
    return np.column_stack([pred, a0 * X * prior.scale]) / np.maximum(a0 * pred, 1e-12)[:, None]


def choose(
    prior: Prior,
    space: SearchSpace,
    candidates: Sequence[SubnetConfig],
    k: int,
    labelled: Sequence[SubnetConfig] = (),
    latency_ms: Sequence[float] | np.ndarray = (),
    lam: float = PRIOR_LAMBDA,
) -> list[int]:
    """Indices of ``k`` distinct candidates (none of them labelled) to measure next, given the ``labelled``
    subnets and their latencies; ``lam``: the ridge strength of the deviations (the adapted model's, or the
    prior's)."""
    if k < 0:
        raise ConfigError(f"cannot choose {k} subnets")
    y = np.asarray(latency_ms, dtype=np.float64)
    X_l = cost_terms(space, list(labelled)) if len(labelled) else np.zeros((0, len(prior.coef)))
    P, a0 = posterior_precision(prior, X_l, y, lam)
    cov = np.linalg.pinv(P)
    R = _rows(prior, cost_terms(space, list(candidates)), a0) if len(candidates) else np.zeros((0, len(P)))
    var = np.einsum("ij,jk,ik->i", R, cov, R)
    held = {c.key() for c in labelled}
    taken = [i for i, c in enumerate(candidates) if c.key() in held]  # measured already: never again
    picked: list[int] = []
    for _ in range(min(k, len(candidates) - len(taken))):
        v = np.where(np.isin(np.arange(len(R)), picked + taken), -np.inf, var)
        i = int(np.argmax(v))
        picked.append(i)
        u = cov @ R[i]
        cov = cov - np.outer(u, u) / (1.0 + R[i] @ u)
        var = np.einsum("ij,jk,ik->i", R, cov, R)
    return picked


def information(prior: Prior, space: SearchSpace, configs: Sequence[SubnetConfig], lam: float = PRIOR_LAMBDA) -> float:
    """log det of the posterior precision that measuring ``configs`` would give (before any label, a0 = 1):
    the quantity the greedy choice raises; larger pins the model better."""
    R = _rows(prior, cost_terms(space, list(configs)), 1.0)
    P = R.T @ R + posterior_precision(prior, np.zeros((0, len(prior.coef))), np.zeros(0), lam)[0]
    return float(np.linalg.slogdet(P)[1])
