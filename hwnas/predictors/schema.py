"""A saved predictor checked whole on load: every field's type, then the model state by predicting
a fixed probe set of subnets, which must give finite, positive latencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.core.validate import integer, mapping, number, text

_TEXT = ("device", "space", "space_digest", "family")


def check_fields(d: dict[str, Any], path: str | Path) -> None:
    """Types of the top-level fields (the format and version are checked by the reader)."""
    try:
        for key in _TEXT:
            if key not in d:
                raise ConfigError(f"lacks {key!r}")
            text(d[key], key)
        for key in ("feature_schema", "metrics", "model"):
            if key not in d:
                raise ConfigError(f"lacks {key!r}")
            mapping(d[key], key)
        integer(d.get("n_train"), "n_train")
        number(d["metrics"].get("p95_rel_err"), "metrics.p95_rel_err", positive=False)
        if d["metrics"]["p95_rel_err"] < 0:
            raise ConfigError("metrics.p95_rel_err must not be negative")
        integer(d.get("seed", 0), "seed", minimum=None)
        model = d["model"]
        if model.get("family") != d["family"]:
            raise ConfigError(f"model.family {model.get('family')!r} differs from family {d['family']!r}")
        mapping(model.get("state"), "model.state")
        integer(model.get("n_train"), "model.n_train")
    except ConfigError as e:
        raise ConfigError(f"{path} is not a valid latency predictor: {e}") from None


def probe_configs(space: SearchSpace, n: int = 8) -> list:
    rng = np.random.default_rng(0)
    return [space.min_config(), space.max_config(), *(space.sample(rng) for _ in range(n))]


def check_model(model: Any, space: SearchSpace, path: str | Path) -> None:
    """The state must predict the probe set: a wrong-length vector or a bad tree fails here, not later."""
    try:
        y = np.asarray(model.predict(probe_configs(space)), dtype=np.float64)
    except Exception as e:  # noqa: BLE001 - any failure of a malformed state is the file's fault
        raise ConfigError(f"{path}: malformed model state ({type(e).__name__}: {str(e)[:120]})") from None
    check_latencies(y, f"{path}: the predictor", shape=(len(probe_configs(space)),))


def check_latencies(y: np.ndarray, who: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Refuse predictions that are not finite, positive latencies (a refit is the cure)."""
    y = np.asarray(y, dtype=np.float64)
    if shape is not None and y.shape != shape:
        raise ConfigError(f"{who} returns {y.shape} predictions for {shape[0]} subnets: refit it")
    bad = ~np.isfinite(y) | (y <= 0)
    if bad.any():
        raise ConfigError(
            f"{who} predicts {float(y[bad][0]):g} ms, not a finite positive latency: refit it with 'hwnas fit'"
        )
    return y
