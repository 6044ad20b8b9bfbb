"""Every store knows its noise: profiling with two visits measures every subnet twice in different
batches (really measured on ONNX Runtime), a third time where the two disagree, exports each subnet
once per run, resumes without measuring twice, and the fit reads the disagreement back."""

import json

import pytest

from hwnas.devices import get
from hwnas.pipelines import exporter as exporter_mod
from hwnas.pipelines.fit import noise_of, read_records
from hwnas.pipelines.profile import profile_configs
from hwnas.profiling import visits as visits_mod
from hwnas.profiling.ladder import ladder
from hwnas.profiling.sampling import plan
from hwnas.profiling.store import LatencyStore
from hwnas.profiling.surprise import MAX_VISITS, disagreeing
from hwnas.profiling.visits import retest_target

QUICK = dict(rounds=3, warmup_runs=3, block_ms=2.0, max_retries=0)


def test_retest_target():
    assert retest_target(4) == 4 and retest_target(50) == 8 and retest_target(200) == 20
    assert retest_target(200, extra=30) == 50 and retest_target(10, extra=30) == 10


def test_retests_in_later_batches_and_resume(tiny_space, tmp_path):
    cfgs, dev = plan(tiny_space, 5), get("cpu").with_(**QUICK)
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs(cfgs, tiny_space, dev, store, batch=3, retest=None)
        assert s.retested == 0 and len(store) == 5
        s = profile_configs(cfgs, tiny_space, dev, store, batch=3, visits=2)  # only the retests are missing
        assert s.skipped == 5 and s.retested == len(s.records) == 5
        again = profile_configs(cfgs, tiny_space, dev, store, batch=3, retest=2, visits=2)  # nothing left
        assert again.records == []
        df = store.to_dataframe()
    first = df.groupby("key").head(1)
    second = df[~df.index.isin(first.index)]
    assert len(second) == 5 and not set(second["visit"]) & set(first["visit"])  # other batches
    rungs = [json.loads(v) for v in df["refs_ms"]]  # the reference ladder measured in every batch
    assert all(len(r) == len(ladder(tiny_space)) and min(r) > 0 for r in rungs)
    nf = noise_of(read_records(tmp_path / "l.db", "cpu", tiny_space))
    rt = nf["retest_store"]
    assert rt["subnets"] == 5 and 0 <= rt["median"] <= rt["p90"] <= rt["worst"]


def test_one_visit_retests_only_a_share(tiny_space, tmp_path):
    cfgs, dev = plan(tiny_space, 10), get("cpu").with_(**QUICK)
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs(cfgs, tiny_space, dev, store, batch=4, visits=1)
        counts = store.to_dataframe().groupby("key").size()
    assert s.retested == retest_target(10) == 8 and sorted(counts.value_counts().items()) == [(1, 2), (2, 8)]


@pytest.mark.parametrize("threshold, third", [(0.0, True), (float("inf"), False)])
def test_two_visits_that_disagree_earn_a_third_and_more_while_none_confirms_the_label(
    tiny_space, tmp_path, monkeypatch, threshold, third
):
    monkeypatch.setattr(visits_mod, "DISAGREE", threshold)
    cfgs, dev = plan(tiny_space, 4), get("cpu").with_(**QUICK)
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs(cfgs, tiny_space, dev, store, batch=2, visits=2)
        df = store.to_dataframe()
    per_key = df.groupby("key")["visit"].nunique()  # every measurement of a subnet in its own batch
    assert (per_key == df.groupby("key").size()).all()
    if third:  # any two real measurements differ a little: all four disagree beyond 0, up to the last visit
        assert (per_key == MAX_VISITS).all() and s.retested == 4 * (MAX_VISITS - 1)
    else:
        assert (per_key == 2).all() and s.retested == 4


def test_disagreeing_compares_the_first_two_visits():
    import pandas as pd

    df = pd.DataFrame({"key": list("aabbbc"), "latency_ms": [1.0, 1.05, 2.0, 2.02, 9.0, 3.0], "status": "ok"})
    assert (
        disagreeing(df, 0.03) == {"a"} and disagreeing(df, 0.0) == {"a", "b"} and disagreeing(df.iloc[:0], 0.0) == set()
    )


def test_a_subnet_is_exported_once_per_run_while_the_cache_has_room(tiny_space, tmp_path, monkeypatch, export_calls):
    cfgs, dev = plan(tiny_space, 4), get("cpu").with_(**QUICK)
    rungs = len(ladder(tiny_space))
    with LatencyStore(tmp_path / "a.db") as store:
        assert len(profile_configs(cfgs, tiny_space, dev, store, batch=2, visits=2).records) == 8
    assert len(export_calls) == 4 + rungs  # the later visits reuse the files
    export_calls.clear()
    monkeypatch.setattr(exporter_mod, "CACHE_BYTES", 0)  # no room: every visit exports its subnet again
    with LatencyStore(tmp_path / "b.db") as store:
        assert len(profile_configs(cfgs, tiny_space, dev, store, batch=2, visits=2).records) == 8
    assert len(export_calls) == 8 + rungs
