"""Which measured subnets to visit again because their label looks wrong.

A single visit can be caught by a slow episode that the reference ladder of its batch did not see
(in benchmarks/profiling_retest.py, one subnet of 50 disagreed by 12-28 % between a quiet run and a
busy one while the median disagreed by 1.5 %). Such a label stands out against the others: an
additive model on the config features, fitted out of fold (5 folds, so a label never predicts
itself), predicts it far off. The subnets whose log residual lies more than :data:`Z` robust
standard deviations (the median absolute deviation, scaled as for a normal distribution) and more than
:data:`MIN_OFF` from the median are visited until they have :data:`SURPRISE_VISITS` visits, and the
label, the median of the visits, then drops the odd one. At most :data:`SHARE` of the plan.

A store whose subnets all have two visits says so more directly (:func:`disagreeing`): two visits of
one subnet that disagree by more than a few per cent mean that one of them was disturbed. A third visit
settles it when it agrees with one of the two; when it agrees with neither (:func:`unsettled`), the
median of three is one disturbed visit among others, so more visits follow, up to :data:`MAX_VISITS`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.profiling.labels import drift_corrected, labels_of

Z = 5.0  # robust standard deviations of the log residual ...
MIN_OFF = 0.05  # ... and at least this far off (log residual): the model's own misfit reaches z 5 at 1 % noise
SHARE = 0.10  # at most this share of the plan
SURPRISE_VISITS = 3  # visits of a surprising subnet: the median of three drops one odd visit
MAX_VISITS = 5  # visits of a subnet whose visits keep disagreeing (:func:`unsettled`)
MIN_SUBNETS = 20  # fewer labels: no fit, no surprise
FOLDS = 5
FAMILY = "additive"  # per-layer terms: fits a store of mnist-cpu to 3-4 % MAPE, and extrapolates sanely


def out_of_fold(space: SearchSpace, configs: list[SubnetConfig], y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each subnet's latency predicted by a model (:data:`FAMILY`) fitted on the other folds."""
    from sklearn.model_selection import KFold

    from hwnas.predictors.families import make

    pred = np.empty_like(y)
    for train, test in KFold(FOLDS, shuffle=True, random_state=seed).split(y):
        model = make(FAMILY, space, seed=seed).fit([configs[i] for i in train], y[train])
        pred[test] = model.predict([configs[i] for i in test])
    return pred


def surprising(space: SearchSpace, plan: list[SubnetConfig], df: pd.DataFrame, seed: int = 0) -> list[SubnetConfig]:
    """The plan's subnets (of one host's ok measurements ``df``) with a surprising label and fewer
    than :data:`SURPRISE_VISITS` visits, most surprising first, at most :data:`SHARE` of the plan."""
    labels = labels_of(df).set_index("key") if len(df) else pd.DataFrame()
    cfgs = [c for c in plan if c.key() in labels.index]
    if len(cfgs) < MIN_SUBNETS:
        return []
    keys = [c.key() for c in cfgs]
    y = labels.loc[keys, "latency_ms"].to_numpy(float)
    r = np.log(y) - np.log(np.maximum(out_of_fold(space, cfgs, y, seed), 1e-9))
    from scipy.stats import median_abs_deviation

    spread = median_abs_deviation(r, scale="normal")  # a robust standard deviation
    if not spread > 0:
        return []
    off = np.abs(r - np.median(r))
    z = off / spread
    visits = labels.loc[keys, "visits"].to_numpy(int)
    order = [i for i in np.argsort(-z) if z[i] > Z and off[i] > MIN_OFF and visits[i] < SURPRISE_VISITS]
    return [cfgs[i] for i in order[: int(np.ceil(SHARE * len(plan)))]]


def disagreeing(df: pd.DataFrame, threshold: float) -> set[str]:
    """Keys (of one host's ok measurements ``df``) whose first two drift-corrected visits differ by more
    than ``threshold`` relative to their mean."""
    if not len(df):
        return set()
    lat = drift_corrected(df)
    lat = lat.assign(nth=lat.groupby("key", sort=False).cumcount())
    two = lat[lat["nth"] < 2].pivot(index="key", columns="nth", values="latency_ms").dropna()
    if two.shape[1] < 2:
        return set()
    rel = (two[0] - two[1]).abs() / ((two[0] + two[1]) / 2)
    return set(rel.index[rel > threshold])


def unsettled(df: pd.DataFrame, threshold: float) -> set[str]:
    """Keys (of one host's ok measurements ``df``) with three or more drift-corrected visits whose label,
    the median, no visit confirms: with an odd count, the median visit's nearest other visit differs by
    more than ``threshold`` (relative); with an even count, the two middle visits do."""
    if not len(df):
        return set()
    out = set()
    for key, visits in drift_corrected(df).groupby("key", sort=False)["latency_ms"]:
        v = np.sort(visits.to_numpy(float))
        n, mid = len(v), len(v) // 2
        if n < 3:
            continue
        if n % 2:
            gap = min(v[mid] - v[mid - 1], v[mid + 1] - v[mid]) / v[mid]
        else:
            gap = (v[mid] - v[mid - 1]) / ((v[mid] + v[mid - 1]) / 2)
        if gap > threshold:
            out.add(str(key))
    return out
