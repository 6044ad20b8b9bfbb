import json

import numpy as np
import pytest

from hwnas.core.errors import ConfigError
from hwnas.predictors.metrics import METRICS, noise_floor, quality


def test_quality_on_known_errors():
    y = np.array([1.0, 2.0, 4.0, 8.0])
    p = np.array([1.02, 2.2, 3.6, 8.0])  # +2 %, +10 %, -10 %, 0 %
    q = quality(y, p)
    assert set(q) == set(METRICS)
    assert q["mape"] == pytest.approx((0.02 + 0.1 + 0.1) / 4)
    assert q["rmspe"] == pytest.approx(np.sqrt((0.02**2 + 0.01 + 0.01) / 4))
    assert q["rmse_ms"] == pytest.approx(np.sqrt((0.02**2 + 0.2**2 + 0.4**2) / 4))
    assert q["within_5"] == 0.5 and q["within_10"] == 1.0
    assert q["kendall_tau"] == pytest.approx(1.0) and q["spearman_rho"] == pytest.approx(1.0)
    assert q["p95_rel_err"] == pytest.approx(0.1)


def test_quality_rank_and_bad_input():
    assert quality([1, 2, 3], [3, 2, 1])["kendall_tau"] == pytest.approx(-1.0)
    with pytest.raises(ConfigError):
        quality([1, 2], [1])
    with pytest.raises(ConfigError):
        quality([], [])


def test_noise_floor_from_block_columns():
    blocks = [json.dumps([1.0, 1.1, 0.9, 1.0]), [2.0, 2.0, 2.2, 1.8], "[]", None, float("nan"), [5.0]]
    nf = noise_floor(blocks)
    assert nf["n_records"] == 2 and nf["blocks_per_record"] == 4
    assert nf["rel_mad_median"] == pytest.approx(0.05)  # mean |b - median| / median, both records
    assert nf["label_noise"] == pytest.approx(0.025)  # / sqrt(4 blocks)
    assert nf["floor"] == nf["label_noise"] and nf["n_ref"] == 0
    assert noise_floor([None, "[]"])["n_records"] == 0 and noise_floor([])["floor"] is None


def test_noise_floor_counts_reference_drift():
    # the reference subnet measured with 3 batches (repeated per record): 1.0, 1.0, 1.3 ms
    nf = noise_floor([[1.0, 1.0]] * 3, ref_ms=[1.0, 1.0, 1.0, 1.3, 1.3, None, float("nan")])
    assert nf["n_ref"] == 2 and nf["ref_drift"] == pytest.approx(0.15 / 1.15)
    assert nf["label_noise"] == 0 and nf["floor"] == nf["ref_drift"]
