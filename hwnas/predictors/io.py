"""Saving and loading predictors as plain JSON (no pickle), with the metadata that guards reuse."""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from hwnas import __version__
from hwnas.core.atomic import atomic_write
from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.predictors import families as fam
from hwnas.predictors.features import schema
from hwnas.predictors.metrics import json_safe
from hwnas.predictors.predictor import LatencyPredictor
from hwnas.predictors.schema import check_fields, check_model

FORMAT = "hwnas-latency-predictor"
FORMAT_VERSION = 1
LIBRARIES = ("numpy", "scipy", "scikit-learn", "xgboost")


def library_versions() -> dict[str, str]:
    out = {"hwnas": __version__, "python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "absent"
    return out


def to_dict(pred: LatencyPredictor, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    if not hasattr(pred, "model_"):
        raise ConfigError("cannot save a latency predictor that is not fitted")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "device": pred.device,
        "space": pred.space.name,
        "space_digest": pred.space.digest(),
        "feature_schema": schema(pred.space),
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "family": pred.family_,
        "n_train": pred.n_train_,
        "metrics": pred.metrics_,
        "comparison": (
            pred.comparison_.to_dict()
            if hasattr(pred, "comparison_")
            else getattr(pred, "saved_", {}).get("comparison")
        ),
        "seed": pred.seed,
        "model": pred.model_.to_dict(),
        **(extra or {}),
    }


def save_predictor(pred: LatencyPredictor, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the predictor as JSON (atomically: a crash leaves the old file or the new one)."""
    text = json.dumps(json_safe(to_dict(pred, extra)), allow_nan=False)
    return atomic_write(path, lambda f: f.write(text.encode()))


def read_predictor_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no latency predictor at {path} (make one with 'hwnas fit --device DEVICE')")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ConfigError(f"{path} is not a predictor file: {e}") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ConfigError(f"{path} is not an hwnas latency predictor")
    if d.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{path} has predictor format {d.get('format_version')}, this hwnas reads "
            f"{FORMAT_VERSION}: refit it with 'hwnas fit'"
        )
    return d


def load_predictor(path: str | Path, space: SearchSpace, device: str | None = None) -> LatencyPredictor:
    """A saved predictor, refused (ConfigError) if it was fitted for another space or device, or
    with features this version computes differently."""
    d = read_predictor_file(path)
    check_fields(d, path)
    if d["space_digest"] != space.digest():
        raise ConfigError(
            f"{path} predicts for space {d['space']!r} (digest {d['space_digest']}), not for "
            f"{space.name!r} (digest {space.digest()}): refit it with 'hwnas fit --space ...'"
        )
    if device is not None and d["device"] != device:
        raise ConfigError(f"{path} predicts latency on device {d['device']!r}, not on {device!r}")
    if d["feature_schema"] != schema(space):
        raise ConfigError(
            f"{path} was fitted on another feature schema "
            f"(version {d['feature_schema'].get('version')!r}): refit it with 'hwnas fit'"
        )
    fam.family_class(d["family"])
    pred = LatencyPredictor(space, device=d["device"], family=d["family"], seed=d.get("seed", 0))
    try:
        pred.model_ = fam.from_dict(space, d["model"])
    except Exception as e:  # noqa: BLE001 - any failure of a malformed state is the file's fault
        raise ConfigError(f"{path}: malformed model state ({type(e).__name__}: {str(e)[:120]})") from None
    check_model(pred.model_, space, path)
    pred.family_, pred.n_train_, pred.metrics_ = d["family"], int(d["n_train"]), d["metrics"]
    pred.saved_ = d
    return pred
