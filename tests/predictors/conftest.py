"""Shared data for the predictor tests.

The targets here are SYNTHETIC, with a known structure, because the fitting is what is under test:
latency = 0.15 ms + per-layer costs linear in the layer's MACs and element counts, with 1 %
multiplicative log-normal noise, and blocks of 8 noisy repeats per record (2 % each). Real measured
latencies are exercised by benchmarks/predictor_quality.py and the slow end-to-end CLI test.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hwnas.core import presets
from hwnas.predictors.features import layer_tensor


def synthetic_latency(space, configs, rng, noise=0.01):  # noqa: ANN001, ANN201
    layer, stem = layer_tensor(space, configs)
    w = np.array([0.04, 0.004, 0.006, 0.004, 0.003, 0.5, 0.2, 0.1])
    y = 0.15 + stem[:, 1] * 0.01 + (layer * w).sum((1, 2))
    return y * np.exp(rng.normal(0.0, noise, len(y)))


@pytest.fixture(scope="session")
def space():  # noqa: ANN201
    return presets.get("mnist-cpu")


@pytest.fixture(scope="session")
def data(space):  # noqa: ANN001, ANN201
    rng = np.random.default_rng(0)
    configs = space.sample_unique(120, rng)
    return configs, synthetic_latency(space, configs, rng)


def records_frame(space, configs, y, seed=0):  # noqa: ANN001, ANN201
    """A DataFrame shaped like LatencyStore.to_dataframe (the columns the fit pipeline reads)."""
    rng = np.random.default_rng(seed)
    blocks = [json.dumps((v * np.exp(rng.normal(0, 0.02, 8))).tolist()) for v in y]
    return pd.DataFrame(
        {
            "key": [c.key() for c in configs],
            "device": "cpu",
            "space_digest": space.digest(),
            "latency_ms": y,
            "block_ms": blocks,
            "spread": 0.02,
            "status": "ok",
        }
    )
