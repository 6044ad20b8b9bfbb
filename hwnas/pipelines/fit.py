"""Latency store -> every predictor family compared -> the best saved, with its quality report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import HwnasError, NotFoundError
from hwnas.core.publish import check_writable, publish
from hwnas.core.space import SearchSpace
from hwnas.predictors import LatencyPredictor, save_predictor
from hwnas.predictors.metrics import json_safe, noise_floor
from hwnas.predictors.report import plot_predictions, smallest_size
from hwnas.predictors.selection import learning_curve
from hwnas.profiling.labels import (
    drift_corrected,
    labels_of,
    ladder_baseline,
    one_host,
    retest_noise,
    retest_noise_of,
)

__all__ = ["drift_corrected", "fit_device", "fit_records", "noise_of", "read_records", "records_to_xy"]

MIN_RECORDS = 20


class TooFewRecordsError(HwnasError, ValueError):
    """The store holds too few successful measurements to fit and evaluate a predictor."""


@dataclass
class FitResult:
    predictor: LatencyPredictor
    comparison: dict[str, Any]
    noise: dict[str, Any]
    curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    path: Path | None = None
    plot: Path | None = None
    notes: list[str] = field(default_factory=list)  # e.g. which host was used when the store has several

    def smallest_n(self, goal: float = 0.95) -> int | None:
        """Smallest training size where the chosen family's held-out ±10 % share reaches ``goal``."""
        curve = self.curves.get(self.predictor.family_)
        return smallest_size(curve, "within_10", goal) if curve else None

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-safe data (what ``hwnas fit --json`` prints)."""
        return json_safe(
            {
                "chosen": self.predictor.family_,
                "path": str(self.path),
                "plot": str(self.plot),
                "metrics": self.predictor.metrics_,
                "comparison": self.comparison,
                "noise_floor": self.noise,
                "retest": self.noise.get("retest_store"),
                "notes": self.notes,
                "learning_curve": self.curves,
                "smallest_n_within10_95": self.smallest_n(),
            }
        )


def read_records(db: str | Path, device: str, space: SearchSpace, host: str | None = None) -> pd.DataFrame:
    """The store's successful measurements of ``device`` for ``space`` (one row per measurement) on one
    host: ``host`` (a host_id or its prefix), or the only one; several without ``host`` are refused
    (:func:`hwnas.profiling.labels.one_host`). A note on hosts left out is in ``df.attrs["note"]``."""
    from hwnas.profiling.store import LatencyStore

    if not Path(db).is_file():
        raise NotFoundError(
            f"no latency store at {db}: measure subnets first ('hwnas profile --device {device} -n 200')"
        )
    with LatencyStore(db, read_only=True) as store:
        df = store.to_dataframe(device=device, space_digest=space.digest())
    df = df[df["status"] == "ok"] if len(df) else df
    df, note = one_host(df, host, what=f"device {device!r}")
    df.attrs["note"] = note
    return df


def records_to_xy(df: pd.DataFrame, correct_drift: bool = True) -> tuple[list[SubnetConfig], np.ndarray, list[Any]]:
    """Configs, labels (ms: the median of each subnet's drift-corrected visits, see
    :mod:`hwnas.profiling.labels`) and block measurements of each subnet's first visit."""
    df = labels_of(df, correct_drift)
    configs = [SubnetConfig.from_key(k) for k in df["key"]]
    blocks = list(df["block_ms"]) if "block_ms" in df else []
    return configs, df["latency_ms"].to_numpy(np.float64), blocks


def noise_of(df: pd.DataFrame, retest: pd.DataFrame | None = None) -> dict[str, Any]:
    """The noise floor of the records: block disagreement, the reference subnet's drift and, given
    a second set of records of some of the same subnets (another store), their test-retest
    disagreement; ``floor`` is the largest of the label-noise estimates that remain in the labels
    (the reference drift does not: :func:`drift_corrected` takes it out)."""
    nf: dict[str, Any] = noise_floor(
        df["block_ms"] if "block_ms" in df else [], df["ref_ms"].tolist() if "ref_ms" in df else None
    )
    if nf.get("ref_drift") is not None and nf.get("label_noise") is not None:
        nf["floor"], nf["drift_corrected"] = nf["label_noise"], True
    found = ladder_baseline(df)
    if found is not None and found[1] is not None:  # how much slower the store ran than the host when quiet
        own = ladder_baseline(df.drop(columns="base_ms"))
        nf["host_baseline_gap"] = float(np.median(own[0] / found[1] - 1)) if own else None
    st = nf["retest_store"] = retest_noise_of(df)  # subnets measured in two or more visits of this store
    if st["median"] is not None and st["subnets"] >= 2:
        visit_noise = st["median"] / np.sqrt(2)  # one visit's own typical error
        nf["floor"] = visit_noise if nf.get("floor") is None else max(nf["floor"], visit_noise)
    if retest is not None:
        both = labels_of(df).merge(labels_of(retest), on="key", suffixes=("_a", "_b"))
        nf["retest"] = rt = retest_noise(both["latency_ms_a"], both["latency_ms_b"])
        if rt["subnets"] >= 2:
            nf["floor"] = max(v for v in (nf["floor"], rt["label_noise"]) if v is not None)
    return nf


def fit_records(
    space: SearchSpace,
    device: str,
    df: pd.DataFrame,
    *,
    families: Sequence[str] | None = None,
    seed: int = 0,
    folds: int = 5,
    curve: bool = True,
    out: str | Path | None = None,
    plot: str | Path | None = None,
    retest: pd.DataFrame | None = None,
) -> FitResult:
    """Fit, compare and choose on records of one device; optionally save the predictor and a plot."""
    n_subnets = df["key"].nunique() if len(df) else 0
    if n_subnets < MIN_RECORDS:
        raise TooFewRecordsError(
            f"{n_subnets} successfully measured subnets of device {device!r} for space {space.name!r}; need at "
            f"least {MIN_RECORDS} (200 recommended): run 'hwnas profile --device {device} "
            f"--space {space.name} -n 200' first"
        )
    configs, y, _ = records_to_xy(df)
    pred = LatencyPredictor(space, device=device, families=families, folds=folds, seed=seed).fit(configs, y)
    comp = pred.comparison_
    res = FitResult(pred, comp.to_dict(), noise_of(df, retest))
    if curve:
        res.curves = learning_curve(space, configs, y, list(comp.results), seed=seed)
    pred.metrics_["noise_floor"] = res.noise.get("floor")
    st = res.noise["retest_store"]  # the search's noise-aware margin reads these (search.constraints)
    visits = float(df.groupby("key").size().mean())
    pred.metrics_.update(
        retest_subnets=st["subnets"], retest_median=st["median"], retest_p90=st["p90"], label_visits=visits
    )
    if df.attrs.get("note"):
        res.notes.append(df.attrs["note"])
    if plot:
        res.plot = plot_predictions(
            comp.test_true, comp.test_pred[comp.chosen], plot, f"{comp.chosen} on {device} ({space.name}), held-out"
        )
    if out:
        res.path = save_predictor(pred, out, extra={"noise_floor": res.noise, "learning_curve": res.curves})
    return res


def fit_device(
    space: SearchSpace,
    device: str,
    db: str | Path,
    out: str | Path,
    retest_db: str | Path | None = None,
    host: str | None = None,
    **kwargs: Any,
) -> FitResult:
    """`hwnas fit`: read the store (and a re-measurement store, if any), fit, save to ``out`` and the
    plot next to it (DEV.png)."""
    out = Path(out)
    plot = out.with_suffix(".png")
    check_writable(out.parent)  # before the fitting, not after it
    df = read_records(db, device, space, host)
    retest = read_records(retest_db, device, space, host) if retest_db else None
    with publish(out.parent, (out.name, plot.name)) as stage:  # predictor and plot as one set
        res = fit_records(space, device, df, out=stage / out.name, plot=stage / plot.name, retest=retest, **kwargs)
    res.path, res.plot = out, plot
    return res
