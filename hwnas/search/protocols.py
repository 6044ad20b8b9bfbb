"""What the search needs from the outside world, as small protocols (no torch, no predictor import)."""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from hwnas.core.config import SubnetConfig

# config -> score to maximise (top-1 on the validation split, or a training-free proxy)
Fitness = Callable[[SubnetConfig], float]


@runtime_checkable
class LatencyModel(Protocol):
    """Anything that predicts latency in milliseconds for a batch of configs (a fitted predictor)."""

    def predict(self, configs: Sequence[SubnetConfig]) -> np.ndarray: ...


class CachedFitness:
    """Wraps a fitness so that each config key is scored once (across searches and fallbacks)."""

    def __init__(self, fn: Fitness) -> None:
        self.fn = fn
        self.cache: dict[str, float] = {}

    def __call__(self, cfg: SubnetConfig) -> float:
        key = cfg.key()
        if key not in self.cache:
            self.cache[key] = float(self.fn(cfg))
        return self.cache[key]
