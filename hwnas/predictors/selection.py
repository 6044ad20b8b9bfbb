"""Compare families on the same data: K-fold CV on a training split, a held-out split, a learning
curve; choose the family with the lowest cross-validated MAPE."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.predictors import families as fam
from hwnas.predictors.features import Batch, to_batch
from hwnas.predictors.metrics import quality

MIN_SAMPLES = 10
CURVE_SIZES = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
SELECT_BY = "mape"
SELECT_TOL = 0.05  # CV MAPEs within 5 % (relative) of the best count as a tie ...
MIN_RATE = 100_000.0  # ... broken in favour of families predicting at least this many configs/s
RATE_BATCH = 20_000


def split(n: int, test_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train / held-out indices; at least 2 held out and MIN_SAMPLES - 2 for training."""
    if n < MIN_SAMPLES:
        raise ConfigError(f"need at least {MIN_SAMPLES} measured subnets to fit and evaluate, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = min(max(2, int(round(n * test_frac))), n - (MIN_SAMPLES - 2))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def oof_predictions(name: str, space: SearchSpace, b: Batch, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold predictions of a family by shuffled K-fold cross-validation (at least 2 folds)."""
    from sklearn.model_selection import KFold  # here: loading a saved predictor does not need scikit-learn

    pred = np.empty(len(y))
    for train, test in KFold(max(2, min(folds, len(y))), shuffle=True, random_state=seed + 1).split(y):
        pred[test] = fam.make(name, space, seed=seed).fit(b.take(train), y[train]).predict(b.take(test))
    return pred


def predict_rate(model: fam.Family, b: Batch, n: int = RATE_BATCH) -> float:
    """Configs per second that ``model.predict`` handles on a batch of ``n`` (features included)."""
    big = b.take(np.resize(np.arange(len(b)), n))
    t = time.perf_counter()
    model.predict(big)
    return n / (time.perf_counter() - t)


@dataclass
class FamilyComparison:
    """Per family: cross-validated and held-out metrics, train MAPE, fit time, prediction rate."""

    n_train: int
    n_test: int
    folds: int
    seed: int
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    chosen: str = ""
    test_true: list[float] = field(default_factory=list)
    test_pred: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "folds": self.folds,
            "seed": self.seed,
            "select_by": f"cv {SELECT_BY} (ties within {SELECT_TOL:.0%}: >= {MIN_RATE:,.0f} predictions/s first)",
            "chosen": self.chosen,
            "families": self.results,
        }


def compare(
    space: SearchSpace,
    configs: Sequence[SubnetConfig] | Batch,
    latency_ms: Sequence[float] | np.ndarray,
    families: Sequence[str] | None = None,
    test_frac: float = 0.2,
    folds: int = 5,
    seed: int = 0,
) -> FamilyComparison:
    """Fit every family on the same training split, cross-validate it there, score it on the
    held-out split, and choose the lowest cross-validated MAPE (the held-out split plays no part
    in the choice, so the chosen family's held-out figures are honest)."""
    b = configs if isinstance(configs, Batch) else to_batch(space, configs)
    y = np.asarray(latency_ms, dtype=np.float64)
    names = list(families or fam.names())
    for n in names:
        fam.family_class(n)
    train, test = split(len(y), test_frac, seed)
    out = FamilyComparison(
        n_train=len(train), n_test=len(test), folds=min(folds, len(train)), seed=seed, test_true=y[test].tolist()
    )
    bt, yt = b.take(train), y[train]
    for name in names:
        cv = quality(yt, oof_predictions(name, space, bt, yt, folds, seed))
        t0 = time.perf_counter()
        model = fam.make(name, space, seed=seed).fit(bt, yt)
        fit_s = time.perf_counter() - t0
        pred = model.predict(b.take(test))
        out.test_pred[name] = pred.tolist()
        out.results[name] = {
            "cv": cv,
            "holdout": quality(y[test], pred),
            "train_mape": quality(yt, model.predict(bt))["mape"],
            "fit_s": fit_s,
            "predict_per_s": predict_rate(model, bt),
            "target": model.target,
        }
    out.chosen = choose(out.results)
    return out


def choose(results: dict[str, dict[str, Any]]) -> str:
    """The lowest cross-validated MAPE; among families within SELECT_TOL of it (a difference the
    CV cannot resolve), the most accurate one that predicts at least MIN_RATE configs/s, else the
    fastest of them."""
    cv = {n: r["cv"][SELECT_BY] for n, r in results.items()}
    best = min(cv.values())
    tied = [n for n in cv if cv[n] <= best * (1 + SELECT_TOL)]
    fast = [n for n in tied if results[n]["predict_per_s"] >= MIN_RATE]
    if fast:
        return min(fast, key=lambda n: cv[n])
    return max(tied, key=lambda n: results[n]["predict_per_s"])


def learning_curve(
    space: SearchSpace,
    configs: Sequence[SubnetConfig] | Batch,
    latency_ms: Sequence[float] | np.ndarray,
    families: Sequence[str],
    test_frac: float = 0.2,
    seed: int = 0,
    repeats: int = 3,
    sizes: Sequence[int] = CURVE_SIZES,
) -> dict[str, list[dict[str, float]]]:
    """Held-out quality after training on 10, 20, 50, ... samples of the training split (mean over
    ``repeats`` random subsets; the full training split closes the curve)."""
    b = configs if isinstance(configs, Batch) else to_batch(space, configs)
    y = np.asarray(latency_ms, dtype=np.float64)
    train, test = split(len(y), test_frac, seed)
    steps = sorted({s for s in sizes if s < len(train)} | {len(train)})
    rng = np.random.default_rng(seed + 2)
    curves: dict[str, list[dict[str, float]]] = {}
    for name in families:
        rows = []
        for n in steps:
            runs = []
            for _ in range(1 if n == len(train) else repeats):
                sub = rng.choice(train, size=n, replace=False)
                pred = fam.make(name, space, seed=seed).fit(b.take(sub), y[sub]).predict(b.take(test))
                runs.append(quality(y[test], pred))
            rows.append({"n": n, **{k: float(np.nanmean([r[k] for r in runs])) for k in runs[0]}})
        curves[name] = rows
    return curves
