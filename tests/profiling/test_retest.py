"""Every store knows its noise: profiling re-measures a share of the plan in later batches (really
measured on ONNX Runtime), resumes without measuring twice, and the fit reads the disagreement back."""

import json

from hwnas.devices import get
from hwnas.pipelines.fit import noise_of, read_records
from hwnas.pipelines.profile import profile_configs, retest_target
from hwnas.profiling.ladder import ladder
from hwnas.profiling.sampling import plan
from hwnas.profiling.store import LatencyStore

QUICK = dict(rounds=3, warmup_runs=3, block_ms=2.0, max_retries=0)


def test_retest_target():
    assert retest_target(4) == 4 and retest_target(50) == 8 and retest_target(200) == 20
    assert retest_target(200, extra=30) == 50 and retest_target(10, extra=30) == 10


def test_retests_in_later_batches_and_resume(tiny_space, tmp_path):
    cfgs, dev = plan(tiny_space, 5), get("cpu").with_(**QUICK)
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs(cfgs, tiny_space, dev, store, batch=3, retest=None)
        assert s.retested == 0 and len(store) == 5
        s = profile_configs(cfgs, tiny_space, dev, store, batch=3)  # only the retests are missing
        assert s.skipped == 5 and s.retested == len(s.records) == 5
        again = profile_configs(cfgs, tiny_space, dev, store, batch=3, retest=2)  # nothing left to retest
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
