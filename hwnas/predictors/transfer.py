"""Few-shot transfer of a layer-level cost model to a new space or device.

The source model is the ``additive`` family fitted on what a host already measured: latency = the stem's
cost + a sum over layers of non-negative costs per term (a per-layer constant, the MACs of qkv /
attention products / projection / MLP, elements touched by layer norms, softmax and the MLP's hidden
activations). Its terms are physical quantities, so its coefficients mean the same in any space.

On the target, the coefficients are adapted from a few labels: ``w = a * c + a0 * s * d``, a global
scale ``a`` (free) and per-term deviations ``d`` with a Gaussian prior toward 0 (``s``: the term's own
size, so ``d`` is a relative change), fitted by ridge regression in relative error. The ridge strength
is chosen by leave-one-out on the target's labels (closed form): few labels keep the source's shape
(global scale only), more let single terms move. ``cross_validate`` gives honest held-out figures:
each label predicted by a model adapted without it, its ridge strength chosen without it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.predictors.families.linear import Additive
from hwnas.predictors.features import STEM_FEATURES, Batch, layer_tensor, to_batch
from hwnas.predictors.metrics import quality

LAMBDAS = np.logspace(-5, 3, 17)  # ridge strengths tried on the deviations (relative units)
PRIOR_LAMBDA = 1.0  # before any target label: the prior used to choose which subnets to measure
FLOOR = 0.02  # a term the source left at zero may still grow to ~2 % of a typical latency per unit of d
POOL = 256  # subnets of the target space that size the terms (fixed seed)
TINY = 1e-8  # ridge on the global scale: numerically free


def cost_terms(space: SearchSpace, configs: Sequence[SubnetConfig] | Batch) -> np.ndarray:
    """(n, K) stem terms and per-layer terms summed over layers: the additive family's features."""
    layer, stem = layer_tensor(space, configs if isinstance(configs, Batch) else to_batch(space, configs))
    return np.concatenate([stem, layer.sum(1)], axis=1)


def reference_pool(space: SearchSpace, n: int = POOL, seed: int = 0) -> list[SubnetConfig]:
    """The smallest, the largest and ``n`` uniform subnets of ``space`` (a fixed sample)."""
    rng = np.random.default_rng(seed)
    return [space.min_config(), space.max_config(), *space.sample_unique(n, rng)]


def fit_source(space: SearchSpace, configs: Sequence[SubnetConfig], latency_ms: np.ndarray) -> np.ndarray:
    """The source's cost per term (the additive family's non-negative coefficients)."""
    model = Additive(space)
    model.fit(configs, latency_ms)
    return np.asarray(model.coef_, dtype=np.float64)


@dataclass(frozen=True)
class Prior:
    """The source's coefficients ``coef`` and the size ``scale`` of one unit of deviation per term,
    both per term of :func:`cost_terms`."""

    coef: np.ndarray
    scale: np.ndarray

    @classmethod
    def of(cls, coef: np.ndarray, space: SearchSpace) -> Prior:
        """Deviation sizes for the target ``space``: a term's own cost, or for a term the source left at
        zero, FLOOR of a typical latency spread over the term's typical size."""
        X = cost_terms(space, reference_pool(space))
        typical = float(np.mean(X @ coef))
        if not typical > 0:
            raise ConfigError("the source model predicts no positive latency for this space")
        mean = X.mean(0)
        floor = np.where(mean > 0, FLOOR * typical / np.where(mean > 0, mean, 1.0), 0.0)
        return cls(np.asarray(coef, dtype=np.float64), np.maximum(coef, floor))


def global_scale(p: np.ndarray, y: np.ndarray) -> float:
    """The scale a minimising the relative squared error of a * p against y."""
    r = p / y
    return float(r.sum() / (r @ r))


def _design(prior: Prior, X: np.ndarray, y: np.ndarray, a0: float) -> np.ndarray:
    """Rows in relative units: [source prediction, a0 * scaled terms] / y."""
    return np.column_stack([X @ prior.coef, a0 * X * prior.scale]) / y[:, None]


def _penalty(k: int, lam: float) -> np.ndarray:
    return np.diag(np.r_[TINY, np.full(k, lam)])


def _solve(A: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge solution of A beta = 1 and the leave-one-out relative errors (closed form)."""
    G = np.linalg.pinv(A.T @ A + _penalty(A.shape[1] - 1, lam))
    beta = G @ A.T @ np.ones(len(A))
    h = np.einsum("ij,jk,ik->i", A, G, A)
    r = 1.0 - A @ beta
    return beta, -r / np.maximum(1.0 - h, 1e-9)


@dataclass(frozen=True)
class Adapted:
    """The target's coefficients ``weights`` (non-negative), its global scale, the ridge strength chosen
    and the labels it was adapted on."""

    weights: np.ndarray
    scale: float
    lam: float
    n: int

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.weights


def _bounded(prior: Prior, X: np.ndarray, y: np.ndarray, a0: float, lam: float) -> np.ndarray:
    """The ridge solution with every coefficient kept non-negative, as coefficients w."""
    from scipy.optimize import lsq_linear

    k = len(prior.coef)
    # unknowns (a, w): rows A' (a, w) = 1 for the labels, sqrt(lam) (w - a c) / (a0 s) = 0 for the prior
    data = np.column_stack([np.zeros(len(y)), X / y[:, None]])
    s = a0 * prior.scale
    ok = s > 0
    pen = np.sqrt(lam) * np.column_stack([-prior.coef[ok] / s[ok], np.eye(k)[ok] / s[ok, None]])
    M = np.vstack([data, pen])
    rhs = np.r_[np.ones(len(y)), np.zeros(len(pen))]
    return np.asarray(lsq_linear(M, rhs, bounds=(0.0, np.inf)).x[1:], dtype=np.float64)


def adapt(prior: Prior, X: np.ndarray, y: np.ndarray) -> Adapted:
    """Adapt the source to target labels ``y`` (ms) of terms ``X``: the ridge strength with the lowest
    leave-one-out MAPE (closed form, without the sign constraint; with fewer than 3 labels: the strongest,
    i.e. little more than a global scale), then the coefficients refitted non-negative."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) == 0:
        raise ConfigError("adapting a source model needs at least one target measurement")
    a0 = global_scale(X @ prior.coef, y)
    A = _design(prior, X, y, a0)
    lam = float(LAMBDAS[-1])
    if len(y) >= 3:
        errs = [float(np.mean(np.abs(_solve(A, v)[1]))) for v in LAMBDAS]
        lam = float(LAMBDAS[int(np.argmin(errs))])
    w = _bounded(prior, X, y, a0, lam)
    if not (X @ w > 0).all():  # no cost left for some subnet: the scaled source instead
        lam, w = float("inf"), a0 * prior.coef
    return Adapted(w, float(a0), lam, len(y))


def cross_validate(prior: Prior, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Leave-one-out predictions of the whole procedure (ridge strength chosen inside each fold) and
    their quality figures (:func:`hwnas.predictors.metrics.quality`)."""
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 2:
        raise ConfigError("cross-validation needs at least two target measurements")
    pred = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        pred[i] = adapt(prior, X[keep], y[keep]).predict(X[i : i + 1])[0]
    return pred, quality(y, pred)


def posterior_precision(prior: Prior, X: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """The precision matrix of (a, d) after the labels (the prior's alone without labels) and a0."""
    k = len(prior.coef)
    if len(y) == 0:
        return _penalty(k, lam), 1.0
    a0 = global_scale(X @ prior.coef, y)
    A = _design(prior, X, y, a0)
    return A.T @ A + _penalty(k, lam), a0


def as_additive(space: SearchSpace, weights: np.ndarray, n_train: int) -> Additive:
    """An ``additive`` family model with these coefficients (saved and loaded like any fitted one)."""
    if len(weights) != len(STEM_FEATURES) + layer_tensor(space, [space.min_config()])[0].shape[2]:
        raise ConfigError("the coefficients do not match the additive model's terms")
    model = Additive(space)
    model.coef_ = np.asarray(weights, dtype=np.float64)
    model.n_train_ = int(n_train)
    return model
