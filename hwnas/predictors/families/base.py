"""The base of every predictor family: scikit-learn style fit/predict on configs, JSON state."""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.predictors.features import Batch, feature_matrix

TARGETS = ("log", "ms")


def check_targets(latency_ms: Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(latency_ms, dtype=np.float64).ravel()
    if len(y) != n:
        raise ConfigError(f"{n} configs but {len(y)} latencies")
    if n == 0:
        raise ConfigError("no training data")
    if not np.all(np.isfinite(y) & (y > 0)):
        raise ConfigError("latencies must be positive finite numbers (milliseconds)")
    return y


class Family:
    """A latency regressor on subnet configs.

    Subclasses set ``name`` and implement ``_fit(X, t, y)`` / ``_predict(X)`` on the transformed
    target ``t`` (log-latency for target="log", milliseconds for target="ms") and
    ``_state()`` / ``_set_state(state)`` with JSON-safe values. ``features(batch)`` builds X.
    """

    name: ClassVar[str] = ""
    default_target: ClassVar[str] = "log"

    def __init__(self, space: SearchSpace, target: str | None = None, seed: int = 0) -> None:
        target = target or self.default_target
        if target not in TARGETS:
            raise ConfigError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
        self.space = space
        self.target = target
        self.seed = seed

    # the scikit-learn face ---------------------------------------------------------------------
    def fit(self, configs: Sequence[SubnetConfig] | Batch, latency_ms: Sequence[float] | np.ndarray) -> Family:
        X = self.features(configs)
        y = check_targets(latency_ms, len(X))
        self._fit(X, np.log(y) if self.target == "log" else y, y)
        self.n_train_ = len(y)
        return self

    def predict(self, configs: Sequence[SubnetConfig] | Batch) -> np.ndarray:
        if not hasattr(self, "n_train_"):
            raise ConfigError(f"the {self.name} predictor is not fitted yet")
        t = self._predict(self.features(configs))
        return np.exp(t) if self.target == "log" else t

    def features(self, configs: Sequence[SubnetConfig] | Batch) -> np.ndarray:
        return feature_matrix(self.space, configs)

    # JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.name,
            "target": self.target,
            "seed": self.seed,
            "n_train": int(self.n_train_),
            "state": self._state(),
        }

    @classmethod
    def from_dict(cls, space: SearchSpace, d: dict[str, Any]) -> Family:
        obj = cls(space, target=d["target"], seed=d.get("seed", 0))
        obj._set_state(d["state"])
        obj.n_train_ = int(d["n_train"])
        return obj

    # for subclasses ---------------------------------------------------------------------------
    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(space={self.space.name!r}, target={self.target!r})"


class Standardizer:
    """Column means and scales (1 for constant columns), kept as JSON lists."""

    def __init__(self, mean: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
        self.mean, self.scale = mean, scale

    def fit(self, X: np.ndarray) -> Standardizer:
        self.mean = X.mean(0)
        s = X.std(0)
        self.scale = np.where(s > 1e-12, s, 1.0)
        return self

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.scale

    def to_dict(self) -> dict[str, list[float]]:
        if self.mean is None or self.scale is None:
            raise ValueError("the standardizer is not fitted")
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> Standardizer:
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64))
