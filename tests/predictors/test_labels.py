"""Labels from the store's log of measurements: median of drift-corrected visits, one host at a time
(two hosts are never mixed), the store's own test-retest noise, and the noise-aware search margin.
Latencies are SYNTHETIC (see conftest); what is under test is the bookkeeping."""

import json

import numpy as np
import pandas as pd
import pytest

from hwnas.cli.main import main
from hwnas.pipelines.fit import noise_of, read_records, records_to_xy
from hwnas.pipelines.workdir import RunDir
from hwnas.profiling.labels import MixedHostsError, labels_of, retest_noise, retest_noise_of
from hwnas.profiling.record import LatencyRecord
from hwnas.profiling.store import LatencyStore
from hwnas.search.constraints import noise_aware_margin

HOST_A = {"cpu": "CPU A", "cores": "2", "runtime": "onnxruntime 1.0"}
HOST_B = {"cpu": "CPU A", "cores": "8", "runtime": "onnxruntime 1.0"}  # same model name, other machine


def _rec(space, cfg, ms, host, visit, ref=1.0):  # noqa: ANN001, ANN202
    return LatencyRecord(
        key=cfg.key(),
        device="cpu",
        space=space.name,
        space_digest=space.digest(),
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        mlp_ratio=list(cfg.mlp_ratio),
        num_heads=list(cfg.num_heads),
        latency_ms=float(ms),
        ref_ms=ref,
        block_ms=[float(ms)] * 4,
        visit=visit,
        fingerprint=json.dumps(host, sort_keys=True),
    )


def test_label_is_median_of_drift_corrected_visits(space):
    cfg = space.min_config()
    rows = [  # visit 2 ran in a slow episode: subnet and reference both 20 % slower
        _rec(space, cfg, 2.0, HOST_A, "v1", ref=1.0),
        _rec(space, cfg, 2.4, HOST_A, "v2", ref=1.2),
        _rec(space, cfg, 2.1, HOST_A, "v3", ref=1.0),
    ]
    df = pd.DataFrame([r.to_row() for r in rows])
    lab = labels_of(df)
    # median ref 1.0: visits become 2.0, 2.0, 2.1 -> label 2.0 from three visits
    assert len(lab) == 1 and lab["visits"].iloc[0] == 3 and lab["latency_ms"].iloc[0] == pytest.approx(2.0)
    rt = retest_noise_of(df)  # first two visits, drift-corrected: 2.0 and 2.0
    assert rt["subnets"] == 1 and rt["median"] == pytest.approx(0.0)
    assert records_to_xy(df)[1].tolist() == pytest.approx([2.0])


def test_retest_noise_of_pairs():
    rt = retest_noise([1.0, 2.0, 3.0, float("nan")], [1.1, 2.0, 2.7, 1.0])  # 1.0 vs 1.1: 2/21 apart
    rel = [2 / 21, 0.0, 0.3 / 2.85]
    assert rt["subnets"] == 3 and rt["median"] == pytest.approx(2 / 21) and rt["worst"] == pytest.approx(0.3 / 2.85)
    assert rt["p90"] == pytest.approx(float(np.percentile(rel, 90)))
    assert rt["label_noise"] == pytest.approx(sum(rel) / 3 / np.sqrt(2))
    assert retest_noise([], [])["median"] is None


def test_a_stores_own_retest_is_the_same_statistic_over_its_first_two_visits(space):
    cfgs = space.sample_unique(4, np.random.default_rng(0))
    visits = [(1.0, 1.1, 5.0), (2.0, 2.0), (3.0,), (4.0, 3.6)]  # a third visit and a single one are left out
    rows = [_rec(space, c, ms, HOST_A, f"v{i}") for c, seq in zip(cfgs, visits) for i, ms in enumerate(seq)]
    df = pd.DataFrame([r.to_row() for r in rows])
    assert retest_noise_of(df) == retest_noise([1.0, 2.0, 4.0], [1.1, 2.0, 3.6])


def _two_host_store(path, space, data):  # noqa: ANN001, ANN202
    cfgs, y = data
    with LatencyStore(path) as st:
        for i, (c, v) in enumerate(zip(cfgs[:60], y[:60])):
            st.add(_rec(space, c, v, HOST_A, f"a{i // 8}"))
        for i, (c, v) in enumerate(zip(cfgs[:40], y[:40])):  # the other host: twice as slow
            st.add(_rec(space, c, 2 * v, HOST_B, f"b{i // 8}"))
        for i, (c, v) in enumerate(zip(cfgs[:10], y[:10])):  # host A retests 10 subnets, 1 % off
            st.add(_rec(space, c, v * (1.01 if i % 2 else 0.99), HOST_A, "a-retest"))


def test_two_hosts_never_mixed(space, data, tmp_path):
    db = tmp_path / "l.db"
    _two_host_store(db, space, data)
    with pytest.raises(MixedHostsError) as e:
        read_records(db, "cpu", space)
    msg = str(e.value)
    assert "\n" not in msg and "2 hosts" in msg and "--host" in msg and "8 cores" in msg and "2 cores" in msg
    with LatencyStore(db, read_only=True) as st:
        ids = st.to_dataframe().groupby("fingerprint")["host_id"].first()
    a = ids[json.dumps(HOST_A, sort_keys=True)]
    df = read_records(db, "cpu", space, host=a[:6])
    assert df["host_id"].eq(a).all() and len(df) == 70 and "leaving out 1 other host" in df.attrs["note"]
    nf = noise_of(df)
    assert nf["retest_store"]["subnets"] == 10 and nf["retest_store"]["median"] == pytest.approx(0.01, rel=0.01)


def test_cli_fit_refuses_a_mix_then_fits_one_host(space, data, tmp_path, capsys):
    wd = RunDir(tmp_path / "run").ensure()
    _two_host_store(wd.store, space, data)
    base = ["fit", "--device", "cpu", "--families", "ridge", "--no-curve", "--workdir", str(wd.root)]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--host" in err
    with LatencyStore(wd.store, read_only=True) as st:
        a = st.to_dataframe().set_index("fingerprint")["host_id"][json.dumps(HOST_A, sort_keys=True)].iloc[0]
    assert main([*base, "--host", a]) == 0
    out = capsys.readouterr().out
    assert "note: using host" in out and "test-retest (10 subnets measured in two visits)" in out
    assert "retest median 1.0%" in out and "search margin" in out


def test_noise_aware_margin():
    quiet = {"p95_rel_err": 0.04, "retest_p90": 0.02, "retest_subnets": 20, "label_visits": 1.1}
    assert 0.035 < noise_aware_margin(quiet) < 0.045  # a few per cent on a quiet machine
    assert noise_aware_margin({"p95_rel_err": 0.04}) == 0.04  # no retests: the held-out error alone
    assert noise_aware_margin({**quiet, "retest_subnets": 3}) == 0.04  # too few pairs to trust
    # noise dominates the held-out error: never less than one measurement's own noise
    noisy = {"p95_rel_err": 0.05, "retest_p90": 0.2, "retest_subnets": 20, "label_visits": 1.0}
    assert noise_aware_margin(noisy) == pytest.approx(0.2 / np.sqrt(2))
    # labels of two visits are cleaner than the one measurement that checks a winner: a wider margin
    two = {**quiet, "label_visits": 2.0}
    assert noise_aware_margin(two) > noise_aware_margin({**quiet, "label_visits": 1.0})
