"""Odd labels are visited again: found by an out-of-fold model of the others, and measured (on ONNX
Runtime) until they have three visits."""

import numpy as np
import pandas as pd

from hwnas.core import presets
from hwnas.core.complexity import count_macs
from hwnas.devices import get
from hwnas.pipelines.profile import profile_configs
from hwnas.profiling import visits as visits_mod
from hwnas.profiling.sampling import plan
from hwnas.profiling.store import LatencyStore
from hwnas.profiling.surprise import MAX_VISITS, MIN_SUBNETS, surprising, unsettled

QUICK = dict(rounds=3, warmup_runs=3, block_ms=2.0, max_retries=0)


def _store_rows(cfgs, latency, visits=1):
    return pd.DataFrame(
        [
            {"key": c.key(), "visit": f"v{i}-{k}", "latency_ms": ms}
            for i, (c, ms) in enumerate(zip(cfgs, latency))
            for k in range(visits)
        ]
    )


def test_a_label_far_from_the_others_is_surprising():
    space = presets.get("mnist-cpu")
    cfgs = space.sample_unique(40, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    ms = np.array([0.3 + 2e-8 * count_macs(space, c) for c in cfgs]) * rng.normal(1.0, 0.01, len(cfgs))
    clean = surprising(space, cfgs, _store_rows(cfgs, ms))  # 1 % noise: at most the model's own misfits
    assert len(clean) <= 4 and cfgs[7] not in clean
    odd = ms.copy()
    odd[7] *= 1.25  # one visit caught by a slow episode
    assert surprising(space, cfgs, _store_rows(cfgs, odd))[0] == cfgs[7]  # the most surprising
    assert surprising(space, cfgs, _store_rows(cfgs, odd, visits=3)) == []  # visited enough already
    few = cfgs[: MIN_SUBNETS - 1]
    assert surprising(space, few, _store_rows(few, odd[: MIN_SUBNETS - 1])) == []  # too few to judge


def test_surprising_subnets_get_three_visits_in_later_batches(tiny_space, tmp_path, monkeypatch):
    cfgs, dev = plan(tiny_space, 6), get("cpu").with_(**QUICK)
    picked = cfgs[2]
    monkeypatch.setattr(visits_mod, "surprising", lambda space, plan, df, seed: [picked])  # the choice is tested above
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs(cfgs, tiny_space, dev, store, batch=3, retest=0, visits=2)
        df = store.to_dataframe()
    visits = df.groupby("key")["visit"].nunique()
    assert visits[picked.key()] == 3 and df.groupby("key").size()[picked.key()] == 3
    assert s.retested == len(df) - len(cfgs)
    with LatencyStore(tmp_path / "l.db") as store:  # resumed: nothing left to measure
        assert profile_configs(cfgs, tiny_space, dev, store, batch=3, retest=0, visits=2).records == []


def test_an_unsettled_subnet_is_visited_up_to_five_times_in_later_batches(tiny_space, tmp_path, monkeypatch):
    cfgs, dev = plan(tiny_space, 6), get("cpu").with_(**QUICK)
    picked = cfgs[4]
    monkeypatch.setattr(visits_mod, "surprising", lambda space, plan, df, seed: [picked])  # a third visit, then
    monkeypatch.setattr(  # never confirmed (the rule is tested below)
        visits_mod,
        "unsettled",
        lambda df, threshold: {picked.key()} if (df["key"] == picked.key()).sum() >= 3 else set(),
    )
    with LatencyStore(tmp_path / "l.db") as store:
        profile_configs(cfgs, tiny_space, dev, store, batch=3, retest=0, visits=2)
        df = store.to_dataframe()
    visits = df.groupby("key")["visit"].nunique()
    assert visits[picked.key()] == MAX_VISITS and df.groupby("key").size()[picked.key()] == MAX_VISITS
    assert (visits.drop(picked.key()) == 2).all()  # the others: their two visits
    with LatencyStore(tmp_path / "l.db") as store:  # resumed: nothing left to measure
        assert profile_configs(cfgs, tiny_space, dev, store, batch=3, retest=0, visits=2).records == []


def test_a_label_that_no_visit_confirms_is_unsettled():
    def rows(visits: dict[str, list[float]]) -> pd.DataFrame:
        return pd.DataFrame(
            [{"key": k, "visit": f"{k}-{i}", "latency_ms": ms} for k, v in visits.items() for i, ms in enumerate(v)]
        )

    df = rows(
        {
            "two": [1.0, 1.2],  # two visits: disagreeing()'s case, not this one
            "confirmed": [1.0, 1.02, 1.3],  # the median (1.02) agrees with a neighbour
            "apart": [1.908, 2.001, 2.146],  # a busy-loop run of profiling_retest.py: 4.6 % and 7.3 % apart
            "middle pair apart": [1.0, 1.01, 1.1, 1.12],  # even count: the middle two are 8.5 % apart
            "middle pair close": [0.9, 1.0, 1.01, 1.2],
            "settled at five": [1.0, 1.05, 1.1, 1.101, 1.2],
        }
    )
    assert unsettled(df, 0.03) == {"apart", "middle pair apart"}
    assert unsettled(df, 0.10) == set()
    assert unsettled(df.iloc[:0], 0.03) == set()
