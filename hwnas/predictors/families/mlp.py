"""A small multi-layer perceptron (HAT's choice), fitted by scikit-learn, evaluated with numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

from hwnas.predictors.families.base import Family, Standardizer


class MLP(Family):
    """MLPRegressor (ReLU, L-BFGS) on standardised features and a standardised target."""

    name = "mlp"
    hidden = (64, 64)

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        from sklearn.neural_network import MLPRegressor

        self.std_ = Standardizer().fit(X)
        self.t_mean_, self.t_scale_ = float(t.mean()), float(t.std()) or 1.0
        m = MLPRegressor(
            hidden_layer_sizes=self.hidden, solver="lbfgs", alpha=1e-3, max_iter=3000, random_state=self.seed
        )
        m.fit(self.std_(X), (t - self.t_mean_) / self.t_scale_)
        self.coefs_ = [np.asarray(w, dtype=np.float64) for w in m.coefs_]
        self.intercepts_ = [np.asarray(b, dtype=np.float64) for b in m.intercepts_]

    def _predict(self, X: np.ndarray) -> np.ndarray:
        h = self.std_(X)
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            h = h @ w + b
            if i < len(self.coefs_) - 1:
                np.maximum(h, 0.0, out=h)
        return h[:, 0] * self.t_scale_ + self.t_mean_

    def _state(self) -> dict[str, Any]:
        return {
            "standardizer": self.std_.to_dict(),
            "t_mean": self.t_mean_,
            "t_scale": self.t_scale_,
            "coefs": [w.tolist() for w in self.coefs_],
            "intercepts": [b.tolist() for b in self.intercepts_],
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.std_ = Standardizer.from_dict(state["standardizer"])
        self.t_mean_, self.t_scale_ = float(state["t_mean"]), float(state["t_scale"])
        self.coefs_ = [np.asarray(w, dtype=np.float64) for w in state["coefs"]]
        self.intercepts_ = [np.asarray(b, dtype=np.float64) for b in state["intercepts"]]
