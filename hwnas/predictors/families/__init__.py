"""The registry of predictor families, all with fit(configs, latency_ms) / predict(configs)."""

from __future__ import annotations

from typing import Any

from hwnas.core.errors import UnknownNameError
from hwnas.core.space import SearchSpace
from hwnas.predictors.families.base import Family
from hwnas.predictors.families.boost import XGBoost
from hwnas.predictors.families.linear import Additive, LinearMacs, Ridge
from hwnas.predictors.families.mlp import MLP
from hwnas.predictors.families.trees import GradientBoosting, RandomForest

FAMILIES: dict[str, type[Family]] = {
    c.name: c for c in (LinearMacs, Ridge, RandomForest, GradientBoosting, XGBoost, MLP, Additive)
}
BASELINE = LinearMacs.name


def names() -> list[str]:
    return list(FAMILIES)


def family_class(name: str) -> type[Family]:
    if name not in FAMILIES:
        raise UnknownNameError(f"unknown predictor family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def make(name: str, space: SearchSpace, **kwargs: Any) -> Family:
    """A fresh (unfitted) regressor of family ``name``."""
    return family_class(name)(space, **kwargs)


def from_dict(space: SearchSpace, d: dict[str, Any]) -> Family:
    return family_class(d["family"]).from_dict(space, d)


__all__ = ["Family", "FAMILIES", "BASELINE", "names", "make", "from_dict", "family_class"]
