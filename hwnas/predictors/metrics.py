"""Quality of latency predictions, and the noise floor of the measurements they learn from.

Relative quantities are fractions (0.03 = 3 %); ``rmse_ms`` is in milliseconds.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import numpy as np

from hwnas.core.errors import ConfigError

METRICS = ("rmse_ms", "mape", "rmspe", "within_5", "within_10", "p95_rel_err", "kendall_tau", "spearman_rho")
_EPS = 1e-9  # an error of exactly 10 % counts as within 10 % despite float rounding


def relative_errors(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ConfigError(f"need equally long, non-empty arrays (got {y_true.shape} and {y_pred.shape})")
    return (y_pred - y_true) / y_true


def quality(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray) -> dict[str, float]:
    """RMSE (ms), MAPE, RMSPE, share within +-5 % and +-10 %, 95th-percentile |relative error|,
    Kendall tau and Spearman rho of predicted vs measured latency."""
    from scipy.stats import kendalltau, spearmanr

    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    rel = relative_errors(y_true, y_pred)
    a = np.abs(rel)
    if len(y_true) > 2 and np.ptp(y_true) > 0 and np.ptp(y_pred) > 0:
        tau, rho = float(kendalltau(y_true, y_pred)[0]), float(spearmanr(y_true, y_pred)[0])
    else:
        tau = rho = float("nan")
    return {
        "rmse_ms": float(np.sqrt(np.mean((y_pred - y_true) ** 2))),
        "mape": float(a.mean()),
        "rmspe": float(np.sqrt(np.mean(rel**2))),
        "within_5": float(np.mean(a <= 0.05 + _EPS)),
        "within_10": float(np.mean(a <= 0.10 + _EPS)),
        "p95_rel_err": float(np.percentile(a, 95)),
        "kendall_tau": tau,
        "spearman_rho": rho,
    }


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN / infinite floats replaced by None (strict JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _blocks(value: Any) -> np.ndarray:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if value is None or (isinstance(value, float) and np.isnan(value)):
        value = []
    return np.asarray(value, dtype=np.float64).ravel()


def _rel_mad(x: np.ndarray) -> float:
    med = np.median(x)
    return float(np.mean(np.abs(x - med)) / med)


def noise_floor(block_ms: Iterable[Any], ref_ms: Iterable[float] | None = None) -> dict[str, Any]:
    """How much repeated measurements of one subnet disagree.

    Within a record (``block_ms``, the record's block statistics; records with >= 2 blocks):
    ``rel_mad`` = mean |block - median| / median, the typical relative distance of one block from the
    record's centre, summarised over records (median, p95). A record's latency combines its blocks,
    so its own noise is smaller: ``label_noise`` = median of rel_mad / sqrt(n_blocks).
    Across time (``ref_ms``, a reference subnet re-measured with every batch, if the store has it):
    ``ref_drift`` = rel_mad of its distinct values, the test-retest disagreement of one subnet.
    ``floor`` = the larger of label_noise and ref_drift: a held-out MAPE below it is fitting noise.
    Figures that cannot be computed are None.
    """
    mads, labels, counts = [], [], []
    for v in block_ms:
        b = _blocks(v)
        b = b[np.isfinite(b) & (b > 0)]
        if len(b) < 2:
            continue
        mads.append(_rel_mad(b))
        labels.append(mads[-1] / np.sqrt(len(b)))
        counts.append(len(b))
    refs = np.unique(np.asarray([r for r in (ref_ms if ref_ms is not None else []) if r is not None], dtype=np.float64))
    refs = refs[np.isfinite(refs) & (refs > 0)]
    drift = _rel_mad(refs) if len(refs) >= 2 else None
    if not mads:
        return {
            "n_records": 0,
            "blocks_per_record": 0.0,
            "rel_mad_median": None,
            "rel_mad_p95": None,
            "label_noise": None,
            "ref_drift": drift,
            "n_ref": len(refs),
            "floor": drift,
        }
    label = float(np.median(labels))
    return {
        "n_records": len(mads),
        "blocks_per_record": float(np.median(counts)),
        "rel_mad_median": float(np.median(mads)),
        "rel_mad_p95": float(np.percentile(mads, 95)),
        "label_noise": label,
        "ref_drift": drift,
        "n_ref": len(refs),
        "floor": label if drift is None else max(label, drift),
    }
