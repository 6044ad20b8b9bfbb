"""`LatencyPredictor`: the chosen family for one device and space, with its measured quality."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.predictors import families as fam
from hwnas.predictors.features import Batch, to_batch
from hwnas.predictors.schema import check_latencies
from hwnas.predictors.selection import compare


class LatencyPredictor:
    """Fits every family (or one), picks the best by cross-validation, refits it on all the data.

    Learned state: ``family_``, ``model_``, ``n_train_``, ``metrics_`` and ``comparison_``.
    ``metrics_`` holds the held-out metrics of the chosen family (fitted on the training split
    only), its cross-validated metrics under ``"cv"``, and ``"p95_rel_err"``: the larger of the
    held-out and cross-validated 95th-percentile |relative error|, the safety margin a search
    should apply to predicted latencies.
    """

    saved_: dict[str, Any]  # the file's content, on predictors loaded from one (hwnas.predictors.io)

    def __init__(
        self,
        space: SearchSpace,
        device: str = "",
        family: str = "auto",
        families: Sequence[str] | None = None,
        test_frac: float = 0.2,
        folds: int = 5,
        seed: int = 0,
    ) -> None:
        if family != "auto":
            fam.family_class(family)
        self.space, self.device, self.family = space, device, family
        self.families, self.test_frac, self.folds, self.seed = families, test_frac, folds, seed

    def fit(
        self, configs: Sequence[SubnetConfig] | Batch, latency_ms: Sequence[float] | np.ndarray
    ) -> LatencyPredictor:
        b = configs if isinstance(configs, Batch) else to_batch(self.space, configs)
        y = np.asarray(latency_ms, dtype=np.float64)
        names = [self.family] if self.family != "auto" else self.families
        self.comparison_ = compare(
            self.space, b, y, families=names, test_frac=self.test_frac, folds=self.folds, seed=self.seed
        )
        self.family_ = self.comparison_.chosen
        self.model_ = fam.make(self.family_, self.space, seed=self.seed).fit(b, y)
        self.n_train_ = len(y)
        r = self.comparison_.results[self.family_]
        self.metrics_ = summary_metrics(r["holdout"], r["cv"], self.comparison_.n_test)
        return self

    def predict(self, configs: Sequence[SubnetConfig] | Batch) -> np.ndarray:
        """Predicted latency (ms) of each config."""
        if not hasattr(self, "model_"):
            raise ConfigError("the latency predictor is not fitted yet")
        if isinstance(configs, SubnetConfig):
            configs = [configs]
        return check_latencies(self.model_.predict(configs), f"the {self.device or 'latency'} predictor")

    def predict_one(self, cfg: SubnetConfig) -> float:
        return float(self.predict([cfg])[0])

    def __repr__(self) -> str:
        fitted = f", family_={self.family_!r}" if hasattr(self, "family_") else ""
        return f"LatencyPredictor(space={self.space.name!r}, device={self.device!r}{fitted})"


def summary_metrics(holdout: dict[str, float], cv: dict[str, float], n_test: int) -> dict[str, Any]:
    """Held-out metrics at the top level, cv nested, and the conservative p95 margin."""
    return {
        **holdout,
        "p95_rel_err": max(holdout["p95_rel_err"], cv["p95_rel_err"]),
        "holdout_p95_rel_err": holdout["p95_rel_err"],
        "n_test": n_test,
        "holdout": dict(holdout),
        "cv": dict(cv),
    }
