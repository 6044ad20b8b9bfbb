"""Linear families: the MACs baseline, ridge on all features, and the additive per-layer model."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy.optimize import nnls

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.predictors.families.base import Family, Standardizer
from hwnas.predictors.features import Batch, layer_tensor, params_macs, to_batch


def _batch(space: SearchSpace, configs: Sequence[SubnetConfig] | Batch) -> Batch:
    return configs if isinstance(configs, Batch) else to_batch(space, configs)


class LinearMacs(Family):
    """latency = a + b * MACs (target "ms", least relative squares), or log-latency linear in log-MACs."""

    name = "linear-macs"
    default_target = "ms"

    def features(self, configs: Sequence[SubnetConfig] | Batch) -> np.ndarray:
        macs = params_macs(self.space, _batch(self.space, configs))[1] / 1e6
        x = np.log(macs) if self.target == "log" else macs
        return np.stack([np.ones_like(x), x], axis=1)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        w = 1.0 if self.target == "log" else 1.0 / y  # relative error for milliseconds
        self.coef_ = np.linalg.lstsq(X * np.reshape(w, (-1, 1)), t * w, rcond=None)[0]

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_

    def _state(self) -> dict[str, Any]:
        return {"coef": self.coef_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.coef_ = np.asarray(state["coef"], dtype=np.float64)


class Ridge(Family):
    """Ridge regression on the standardised full feature matrix, alpha chosen by leave-one-out CV.
    Default target: milliseconds with 1/latency^2 weights (least relative squares), which beat
    log-latency on measured CPU labels (benchmarks/predictor_quality.py)."""

    name = "ridge"
    default_target = "ms"
    alphas = np.logspace(-4, 3, 15)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import RidgeCV

        self.std_ = Standardizer().fit(X)
        sw = None if self.target == "log" else 1.0 / y**2
        m = RidgeCV(alphas=self.alphas).fit(self.std_(X), t, sample_weight=sw)
        self.coef_, self.intercept_, self.alpha_ = m.coef_.astype(np.float64), float(m.intercept_), float(m.alpha_)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.std_(X) @ self.coef_ + self.intercept_

    def _state(self) -> dict[str, Any]:
        return {
            "standardizer": self.std_.to_dict(),
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_,
            "alpha": self.alpha_,
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.std_ = Standardizer.from_dict(state["standardizer"])
        self.coef_ = np.asarray(state["coef"], dtype=np.float64)
        self.intercept_, self.alpha_ = float(state["intercept"]), float(state["alpha"])


class Additive(Family):
    """Once-for-All's latency lookup table, fitted: latency = stem(E) + sum over layers of cost(layer),
    each a non-negative combination of cost features (MACs of qkv / attention products / projection /
    MLP, elements touched, a per-layer constant), fitted by non-negative least relative squares."""

    name = "additive"
    default_target = "ms"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.target != "ms":
            raise ConfigError("the additive model sums milliseconds: it supports target='ms' only")

    def features(self, configs: Sequence[SubnetConfig] | Batch) -> np.ndarray:
        layer, stem = layer_tensor(self.space, _batch(self.space, configs))
        return np.concatenate([stem, layer.sum(1)], axis=1)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        A = X / y[:, None]
        norm = np.linalg.norm(A, axis=0)
        norm = np.where(norm > 0, norm, 1.0)
        coef, _ = nnls(A / norm, np.ones_like(y), maxiter=50 * A.shape[1])
        self.coef_ = coef / norm

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_

    def layer_costs_ms(self, configs: Sequence[SubnetConfig] | Batch) -> tuple[np.ndarray, np.ndarray]:
        """The fitted table read out: stem/head ms (n,) and per-layer ms (n, super_depth)."""
        layer, stem = layer_tensor(self.space, _batch(self.space, configs))
        k = stem.shape[1]
        return stem @ self.coef_[:k], layer @ self.coef_[k:]

    def _state(self) -> dict[str, Any]:
        return {"coef": self.coef_.tolist()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.coef_ = np.asarray(state["coef"], dtype=np.float64)
