"""scikit-learn tree ensembles, stored as JSON arrays and evaluated with vectorised numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

from hwnas.predictors.families.base import Family


class Forest:
    """Regression trees packed into (n_trees, max_nodes) arrays; leaves point to themselves."""

    def __init__(
        self,
        feature: np.ndarray,
        threshold: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
        value: np.ndarray,
        depth: np.ndarray,
    ) -> None:
        self.feature, self.threshold, self.left, self.right = feature, threshold, left, right
        self.value, self.depth = value, depth

    @classmethod
    def from_sklearn(cls, trees: list) -> Forest:  # noqa: ANN001 (fitted DecisionTreeRegressor list)
        M = max(t.tree_.node_count for t in trees)
        T = len(trees)
        feature = np.zeros((T, M), np.int64)
        threshold = np.zeros((T, M))
        left = np.tile(np.arange(M), (T, 1))
        right = left.copy()
        value = np.zeros((T, M))
        depth = np.zeros(T, np.int64)
        for i, t in enumerate(trees):
            tr = t.tree_
            n = tr.node_count
            inner = tr.children_left >= 0
            feature[i, :n] = np.where(inner, tr.feature, 0)
            threshold[i, :n] = np.where(inner, tr.threshold, 0.0)
            left[i, :n] = np.where(inner, tr.children_left, np.arange(n))
            right[i, :n] = np.where(inner, tr.children_right, np.arange(n))
            value[i, :n] = tr.value[:, 0, 0]
            depth[i] = tr.max_depth
        return cls(feature, threshold, left, right, value, depth)

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        """(n_trees, n) leaf value of every sample in every tree. X is compared in float32, as
        scikit-learn does; it is laid out feature-major so that a gather reads one flat array."""
        n = len(X)
        flat = np.ascontiguousarray(np.asarray(X, dtype=np.float32).astype(np.float64).T).ravel()
        rows = np.arange(n)
        out = np.empty((len(self.depth), n))
        for i, d in enumerate(self.depth):
            f, th, le, ri = self.feature[i] * n, self.threshold[i], self.left[i], self.right[i]
            node = np.zeros(n, np.int64)
            for _ in range(int(d)):
                node = np.where(flat[f[node] + rows] <= th[node], le[node], ri[node])
            out[i] = self.value[i, node]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).tolist() for k in ("feature", "threshold", "left", "right", "value", "depth")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Forest:
        ints = ("feature", "left", "right", "depth")
        return cls(
            **{
                k: np.asarray(d[k], dtype=np.int64 if k in ints else np.float64)
                for k in ("feature", "threshold", "left", "right", "value", "depth")
            }
        )


class RandomForest(Family):
    """scikit-learn RandomForestRegressor; prediction = mean over trees."""

    name = "random-forest"
    n_estimators = 100

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import RandomForestRegressor

        m = RandomForestRegressor(
            n_estimators=self.n_estimators, max_features=0.5, min_samples_leaf=1, random_state=self.seed, n_jobs=1
        ).fit(X, t)
        self.forest_ = Forest.from_sklearn(m.estimators_)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.forest_.leaf_values(X).mean(0)

    def _state(self) -> dict[str, Any]:
        return {"forest": self.forest_.to_dict()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.forest_ = Forest.from_dict(state["forest"])


class GradientBoosting(Family):
    """scikit-learn GradientBoostingRegressor (squared error): init + learning_rate * sum of trees."""

    name = "gradient-boosting"

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import GradientBoostingRegressor

        m = GradientBoostingRegressor(
            n_estimators=400, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=self.seed
        ).fit(X, t)
        self.init_ = float(np.ravel(m.init_.constant_)[0])
        self.learning_rate_ = float(m.learning_rate)
        self.forest_ = Forest.from_sklearn(list(m.estimators_[:, 0]))

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self.init_ + self.learning_rate_ * self.forest_.leaf_values(X).sum(0)

    def _state(self) -> dict[str, Any]:
        return {"init": self.init_, "learning_rate": self.learning_rate_, "forest": self.forest_.to_dict()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.init_, self.learning_rate_ = float(state["init"]), float(state["learning_rate"])
        self.forest_ = Forest.from_dict(state["forest"])
