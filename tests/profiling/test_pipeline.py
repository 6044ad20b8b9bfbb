"""The profiling pipeline end to end on a tiny space: failures recorded, SIGKILL-safe, resumable."""

import math
import os
import signal
import subprocess
import sys
import time

import pytest

from hwnas.cli.main import main
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import DeviceUnavailableError
from hwnas.core.yaml_io import save_space
from hwnas.devices import get
from hwnas.pipelines.profile import measure_subnet, measure_visits, profile_configs, profile_space
from hwnas.profiling.sampling import plan
from hwnas.profiling.store import LatencyStore

QUICK = dict(rounds=3, warmup_runs=3, block_ms=2.0, max_retries=0)


def test_measure_subnet_without_store(tiny_space):
    rec = measure_subnet(get("cpu").with_(**QUICK), tiny_space, tiny_space.max_config())
    assert rec.ok and rec.latency_ms > 0 and len(rec.block_ms) == 3 and math.isfinite(rec.spread)
    assert rec.runtime == "onnxruntime" and rec.runtime_version and rec.exporter_version.startswith("torch")
    assert rec.opset == 17 and rec.threads == 1 and rec.key == tiny_space.max_config().key()


def test_failures_are_recorded_and_the_run_goes_on(tiny_space, tmp_path):
    too_wide = SubnetConfig(64, 1, (1.0,), (1,))  # beyond the supernet: export really fails
    ok_cfg = tiny_space.min_config()
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs([too_wide, ok_cfg], tiny_space, get("cpu").with_(**QUICK), store)
        df = store.to_dataframe()
    assert s.ok == 3 and s.failed == 1 and s.retested == 2  # the ok subnet in three visits, the failed in one
    bad = df[df.key == too_wide.key()].iloc[0]
    assert bad.status == "failed" and "export failed" in bad.reason and math.isnan(bad.latency_ms)
    assert df[df.key == ok_cfg.key()].iloc[0].status == "ok"


def test_unusable_thread_setting_is_a_failed_record(tiny_space, tmp_path):
    # ONNX Runtime silently replaces a thread count < 1 by its default; the runner refuses it instead
    # of storing a mislabelled measurement.
    dev = get("cpu").with_(name="cpu-bad", threads=-3, clock="wall", **QUICK)
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs([tiny_space.min_config()], tiny_space, dev, store)
        assert store.has(tiny_space.min_config().key(), "cpu-bad")
    assert s.failed == 1 and "could not load" in s.records[0].reason and "thread" in s.records[0].reason


def test_unavailable_device_raises_before_any_work(tiny_space, tmp_path):
    dev = get("cpu").with_(name="cpu-many", threads=os.cpu_count() + 8, clock="wall")
    with pytest.raises(DeviceUnavailableError):
        profile_space(tiny_space, dev, 2, tmp_path / "l.db")
    assert not (tmp_path / "l.db").exists()


_CHILD = """
import sys
from hwnas.core.yaml_io import load_space_file
from hwnas.devices import get
from hwnas.pipelines.profile import profile_space
space = load_space_file(sys.argv[1])
dev = get("cpu").with_(rounds=3, warmup_runs=3, block_ms=2.0, max_retries=0)
profile_space(space, dev, int(sys.argv[3]), sys.argv[2], batch=2, retest=None,
              progress=lambda r, d, t: print("done", r.key, flush=True))
print("finished", flush=True)
"""


def test_sigkill_mid_run_loses_nothing_and_measures_nothing_twice(tiny_space, tmp_path):
    space_file, db, n = tmp_path / "space.yaml", tmp_path / "l.db", 8
    save_space(tiny_space, space_file)
    cmd = [sys.executable, "-c", _CHILD, str(space_file), str(db), str(n)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    seen = []
    deadline = time.time() + 120
    while len(seen) < 3 and time.time() < deadline:  # kill inside the second batch
        line = child.stdout.readline()
        if not line:
            break
        if line.startswith("done"):
            seen.append(line.split()[1])
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(seen) == 3, "the child did not get far enough"
    with LatencyStore(db) as store:
        before = {r.key: (r.latency_ms, r.created_at) for r in store.records()}
    assert set(seen) <= set(before) and len(before) < n  # everything reported as done was committed

    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    remeasured = [ln.split()[1] for ln in out.splitlines() if ln.startswith("done")]
    assert not set(remeasured) & set(before)  # nothing measured twice
    with LatencyStore(db) as store:
        after = {r.key: (r.latency_ms, r.created_at) for r in store.records()}
    assert {k: after[k] for k in before} == before  # nothing lost or changed
    assert set(after) == {c.key() for c in plan(tiny_space, n)} and len(remeasured) == n - len(before)


def test_cli_profile_records_and_gpu_trt_message(tiny_space, tmp_path, capsys):
    space_file, db = tmp_path / "space.yaml", tmp_path / "l.db"
    save_space(tiny_space, space_file)
    assert main(["profile", "--device", "cpu", "--space", str(space_file), "-n", "3", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "measured 9 (9 ok, 0 failed; 6 of them retests" in out and "subnets/min" in out
    assert (
        main(["records", "--db", str(db), "--device", "cpu", "--format", "csv", "--out", str(tmp_path / "r.csv")]) == 0
    )
    import pandas as pd

    df = pd.read_csv(tmp_path / "r.csv")
    assert len(df) == 9 and {"key", "latency_ms", "status", "embed_dim", "depth", "visit", "host_id"} <= set(df.columns)
    assert df.groupby("key")["visit"].nunique().eq(3).all()  # each subnet in three batches
    assert main(["records", "--db", str(db), "--labels", "--out", str(tmp_path / "l.csv")]) == 0
    labels = pd.read_csv(tmp_path / "l.csv")
    assert len(labels) == 3 and labels["visits"].eq(3).all() and labels["latency_ms"].gt(0).all()
    assert main(["records", "--db", str(db), "--format", "parquet", "--out", str(tmp_path / "r.pq")]) == 0
    assert len(pd.read_parquet(tmp_path / "r.pq")) == 9
    capsys.readouterr()
    if get("gpu-trt").available()[0]:
        return
    assert main(["profile", "--device", "gpu-trt", "-n", "2", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "tensorrt" in err.lower()


def test_measure_subnet_with_ladder_can_be_put_at_the_hosts_typical_speed(tiny_space):
    from hwnas.profiling.labels import at_typical_speed
    from hwnas.profiling.ladder import ladder

    cpu = get("cpu").with_(**QUICK)
    first = measure_subnet(cpu, tiny_space, tiny_space.max_config(), with_ladder=True)
    assert len(first.refs_ms) == len(ladder(tiny_space)) and all(v > 0 for v in first.refs_ms)
    assert first.base_ms == [] and at_typical_speed(first.latency_ms, first.refs_ms, first.base_ms) is None
    for _ in range(2):  # the host remembers each ladder; three quiet batches make its baseline
        rec = measure_subnet(cpu, tiny_space, tiny_space.max_config(), with_ladder=True)
    assert len(rec.base_ms) == len(rec.refs_ms)
    typical = at_typical_speed(rec.latency_ms, rec.refs_ms, rec.base_ms)
    assert typical is not None and 0.5 * rec.latency_ms < typical < 2 * rec.latency_ms
    assert measure_subnet(cpu, tiny_space, tiny_space.max_config(), with_ladder=False).refs_ms == []


def test_measure_visits_times_each_visit_in_its_own_batch_from_one_export(tiny_space, export_calls):
    from hwnas.profiling.ladder import ladder

    cfg = tiny_space.max_config()
    recs = measure_visits(get("cpu").with_(**QUICK), tiny_space, cfg, 3, with_ladder=True)
    assert [str(r.status) for r in recs] == ["ok"] * 3 and all(r.key == cfg.key() for r in recs)
    assert len({r.visit for r in recs}) == 3  # three batches, each its own visit
    assert all(len(r.refs_ms) == len(ladder(tiny_space)) and min(r.refs_ms) > 0 for r in recs)
    assert len({tuple(r.refs_ms) for r in recs}) == 3  # each batch timed the ladder again
    assert sorted(export_calls) == sorted([cfg.key()] + [c.key() for c in ladder(tiny_space)])  # exported once
