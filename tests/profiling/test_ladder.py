"""The reference ladder: rungs spanning the space, the slowdown curve, and its use in the labels."""

import json

import numpy as np
import pandas as pd
import pytest

from hwnas.core import presets
from hwnas.core.complexity import count_macs
from hwnas.profiling.labels import drift_corrected
from hwnas.profiling.ladder import ladder, slowdown


@pytest.mark.parametrize("name", ["mnist-cpu", "autoformer-tiny", "autoformer-small"])
def test_rungs_span_the_space_in_size_order_and_skip_the_costliest_tail(name):
    space = presets.get(name)
    rungs = ladder(space)
    assert rungs[0] == space.min_config() and 2 <= len(rungs) <= 4 and rungs == ladder(space)  # deterministic
    for c in rungs:
        space.validate(c)
    macs = [count_macs(space, c) for c in rungs]
    assert macs == sorted(macs) and len(set(macs)) == len(macs)
    assert all(b / a <= 2.6 for a, b in zip(macs, macs[1:]))  # neighbours about 2x apart at most
    sample = [count_macs(space, space.sample(np.random.default_rng(i))) for i in range(200)]
    assert np.mean(np.array(sample) <= macs[-1]) >= 0.6  # the top rung is near the 90th percentile, not the max


def test_a_narrow_space_needs_fewer_rungs_than_a_wide_one():
    assert len(ladder(presets.get("autoformer-tiny"))) < len(ladder(presets.get("mnist-cpu")))
    assert len(ladder(presets.get("mnist-cpu"), rungs=3)) == 3


def test_slowdown_interpolates_over_log_latency():
    base = [1.0, 4.0, 16.0]
    slow = [1.0, 1.1, 1.2]  # bigger subnets slowed down more
    run = [b * s for b, s in zip(base, slow)]
    assert slowdown(4.0, run, base) == pytest.approx(1.1)
    assert slowdown(2.0, run, base) == pytest.approx(np.sqrt(1.1), rel=1e-6)  # halfway in log latency
    assert slowdown(100.0, run, base) == pytest.approx(1.2) and slowdown(0.1, run, base) == pytest.approx(1.0)
    assert slowdown(2.0, [np.nan] * 3, base) == 1.0


def test_labels_divide_each_batch_by_its_slowdown():
    # two visits of a 4 ms subnet: the second in a batch where the 4 ms rung ran 10 % slow
    rows = [
        {"key": "a", "visit": "v1", "latency_ms": 4.0, "ref_ms": 1.0, "refs_ms": json.dumps([1.0, 4.0, 16.0])},
        {"key": "a", "visit": "v2", "latency_ms": 4.4, "ref_ms": 1.0, "refs_ms": json.dumps([1.0, 4.4, 16.0])},
        {"key": "b", "visit": "v3", "latency_ms": 4.0, "ref_ms": 1.0, "refs_ms": json.dumps([1.0, 4.0, 16.0])},
    ]
    out = drift_corrected(pd.DataFrame(rows))
    assert out["latency_ms"].tolist() == pytest.approx([4.0, 4.0, 4.0], rel=1e-4)


def test_one_measurement_is_put_at_the_hosts_typical_speed():
    from hwnas.profiling.labels import at_typical_speed

    base = [1.0, 2.0, 4.0]
    assert at_typical_speed(3.0, base, base) == pytest.approx(3.0)  # a batch at the baseline: unchanged
    assert at_typical_speed(3.3, [1.1, 2.2, 4.4], base) == pytest.approx(3.0)  # 10 % slow throughout
    # slow only at the large end: a large subnet is divided by more than a small one
    assert at_typical_speed(4.4, [1.0, 2.0, 4.4], base) == pytest.approx(4.0)
    assert at_typical_speed(1.0, [1.0, 2.0, 4.4], base) == pytest.approx(1.0)
    assert at_typical_speed(3.0, [1.1, 2.2, 4.4], []) is None  # the host has no quiet ladder yet
    assert at_typical_speed(3.0, [1.1, float("nan"), 4.4], base) is None
