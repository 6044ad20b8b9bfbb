"""The host's remembered ladder: kept across runs and stores, and what labels of a store measured
under load throughout are rescaled to."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from hwnas.devices import get
from hwnas.pipelines.profile import profile_configs
from hwnas.profiling.host_memory import KEEP, MIN_BATCHES, HostMemory, OthersMeter
from hwnas.profiling.labels import drift_corrected, labels_of, ladder_baseline
from hwnas.profiling.ladder import ladder
from hwnas.profiling.sampling import plan
from hwnas.profiling.store import LatencyStore

QUICK = dict(rounds=3, warmup_runs=3, block_ms=2.0, max_retries=0)


def test_baseline_is_the_median_of_quiet_batches_and_keeps_the_last(tmp_path):
    mem = HostMemory("cpu", "h1", "d" * 40, ["a", "b"], folder=tmp_path)
    for i in range(MIN_BATCHES - 1):
        mem.remember([1.0 + i, 2.0], others=0.0)
    mem.remember([9.0, 9.0], others=1.0)  # another process kept a core busy: not quiet
    assert mem.baseline() == []
    mem.remember([5.0, 2.0])  # unknown load (not Linux) counts as quiet
    assert mem.baseline() == [2.0, 2.0]  # medians of 1, 2, 5 and of 2, 2, 2
    mem.remember([np.nan, 2.0])  # an incomplete ladder is not remembered
    assert len(mem.batches()) == MIN_BATCHES + 1
    for _ in range(KEEP + 5):
        mem.remember([3.0, 3.0], others=0.0)
    assert len(mem.batches()) == KEEP and mem.batches()[0]["ms"] == [3.0, 3.0]


def test_other_rungs_or_a_broken_file_give_nothing(tmp_path):
    mem = HostMemory("cpu", "h1", "d" * 40, ["a", "b"], folder=tmp_path)
    for _ in range(MIN_BATCHES):
        mem.remember([1.0, 2.0], others=0.0)
    assert HostMemory("cpu", "h1", "d" * 40, ["a", "c"], folder=tmp_path).baseline() == []  # another ladder
    assert HostMemory("cpu", "h2", "d" * 40, ["a", "b"], folder=tmp_path).baseline() == []  # another host
    mem.path.write_text("{not json")
    with pytest.warns(UserWarning, match="not read"):
        assert mem.baseline() == []
    with pytest.warns(UserWarning, match="not read"):
        mem.remember([1.0, 2.0])  # a broken file is replaced, not fatal
    assert [b["ms"] for b in mem.batches()] == [[1.0, 2.0]]


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc/stat (Linux)")
def test_others_meter_sees_a_busy_process():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # started
        with OthersMeter() as m:
            time.sleep(1.0)
    finally:
        busy.kill()
        busy.wait()
    assert m.cores >= 0.5
    with OthersMeter() as short:  # too short to tell from 10 ms clock ticks
        pass
    assert np.isnan(short.cores)


def test_labels_under_load_throughout_rescale_to_the_remembered_quiet_ladder():
    quiet = [1.0, 4.0, 16.0]
    loaded = [1.07 * q for q in quiet]  # every batch of this store ran 7 % slow
    rows = [
        {"key": k, "visit": f"v{i}", "latency_ms": 1.07 * ms, "refs_ms": json.dumps(loaded)}
        for i, (k, ms) in enumerate([("a", 2.0), ("b", 8.0), ("a", 2.0)])
    ]
    alone = labels_of(pd.DataFrame(rows))
    assert alone.set_index("key")["latency_ms"].to_dict() == pytest.approx({"a": 2.14, "b": 8.56})  # own baseline
    remembered = pd.DataFrame([{**r, "base_ms": json.dumps(quiet)} for r in rows])
    own, host = ladder_baseline(remembered)
    assert host.tolist() == quiet and own.tolist() == quiet
    labels = labels_of(remembered).set_index("key")["latency_ms"].to_dict()
    assert labels == pytest.approx({"a": 2.0, "b": 8.0}, rel=1e-6)
    # without the host's memory the store's own typical batch is the baseline
    assert drift_corrected(pd.DataFrame(rows))["latency_ms"].tolist() == pytest.approx([2.14, 8.56, 2.14])


def test_profiling_remembers_every_batch_and_records_carry_the_baseline(tiny_space, tmp_path):
    dev = get("cpu").with_(**QUICK)
    cfgs = plan(tiny_space, 6)
    with LatencyStore(tmp_path / "a.db") as store:
        profile_configs(cfgs[:4], tiny_space, dev, store, batch=1, retest=None)  # 4 batches
    with LatencyStore(tmp_path / "b.db") as store:  # another store on the same host
        profile_configs(cfgs[4:], tiny_space, dev, store, batch=1, retest=None)
        df = store.to_dataframe()
    first = json.loads(df["refs_ms"].iloc[0])
    base = [json.loads(v) for v in df["base_ms"]]
    assert len(first) == len(ladder(tiny_space)) and all(len(b) == len(first) and min(b) > 0 for b in base)
    mem = HostMemory(dev.name, df["host_id"].iloc[0], tiny_space.digest(), [c.key() for c in ladder(tiny_space)])
    assert len(mem.batches()) == 6 and mem.batches()[-1]["ms"] == json.loads(df["refs_ms"].iloc[-1])
    assert not (df["others_cores"] < 0).any()  # NaN where unknown (these tiny batches are too short)


REMEMBER_IN_THREADS = """
import sys, threading
from pathlib import Path
from hwnas.profiling.host_memory import HostMemory

folder, proc, threads, each = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
start = threading.Barrier(threads)

def work(t):
    mem = HostMemory("cpu", "h1", "d" * 40, ["a", "b"], folder=folder)
    start.wait()
    for i in range(each):
        mem.remember([1.0 + proc * 1000 + t * 100 + i, 2.0], others=0.0)

pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for th in pool:
    th.start()
for th in pool:
    th.join()
"""


def test_threads_of_two_processes_remembering_at_once_lose_no_batch(tmp_path):
    threads, each = 4, 15
    procs = [
        subprocess.Popen([sys.executable, "-c", REMEMBER_IN_THREADS, str(tmp_path), str(p), str(threads), str(each)])
        for p in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    got = sorted(b["ms"][0] for b in HostMemory("cpu", "h1", "d" * 40, ["a", "b"], folder=tmp_path).batches())
    want = sorted(1.0 + p * 1000 + t * 100 + i for p in range(2) for t in range(threads) for i in range(each))
    assert got == want
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]  # no temporary file left behind


def test_a_symbolic_link_in_place_of_the_lock_file_is_not_followed(tmp_path):
    mem = HostMemory("cpu", "h1", "d" * 40, ["a", "b"], folder=tmp_path)
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    (tmp_path / f".{mem.path.name}.lock").symlink_to(target)
    with pytest.warns(UserWarning, match="not written"):
        assert mem.remember([1.0, 2.0]) == []  # the baseline still counts it: one batch, below MIN_BATCHES
    assert target.read_text() == "untouched" and not mem.path.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="the cache folder's place on Linux")
def test_the_memory_folder_is_the_user_cache_folder_unless_set(monkeypatch, tmp_path):
    from hwnas.profiling.host_memory import HOSTS_ENV, hosts_dir

    monkeypatch.setenv(HOSTS_ENV, str(tmp_path / "mine"))
    assert hosts_dir() == tmp_path / "mine"
    monkeypatch.delenv(HOSTS_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert hosts_dir() == tmp_path / "cache" / "hwnas" / "hosts"
