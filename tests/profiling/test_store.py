import json
import math
import sqlite3

from hwnas.core.config import SubnetConfig
from hwnas.devices import get
from hwnas.profiling.record import LatencyRecord
from hwnas.profiling.store import LatencyStore, decode_lists

CFG = SubnetConfig(96, 2, (2.0, 3.0), (2, 4))
REQUIRED = [
    "key",
    "device",
    "space",
    "space_digest",
    "embed_dim",
    "depth",
    "mlp_ratio",
    "num_heads",
    "latency_ms",
    "block_ms",
    "spread",
    "runs",
    "status",
    "reason",
    "threads",
    "batch_size",
    "runtime",
    "runtime_version",
    "exporter_version",
    "opset",
    "precision",
    "created_at",
]


def _rec(cfg=CFG, device="cpu", digest="d1", lat=1.5):
    r = LatencyRecord.for_config(cfg, get(device), "s", digest, runtime_version="1.0", opset=17)
    r.latency_ms, r.block_ms, r.spread, r.runs = lat, [1.5, 1.6], 0.02, 40
    return r


def test_every_measurement_is_kept(tmp_path):
    with LatencyStore(tmp_path / "l.db") as s:
        assert not s.has(CFG.key(), "cpu")
        assert s.add(_rec())
        assert s.has(CFG.key(), "cpu") and s.has(CFG.key(), "cpu", "d1")
        assert not s.has(CFG.key(), "cpu", "other") and not s.has(CFG.key(), "gpu-trt")
        assert s.add(_rec(lat=9.9))  # a second visit of the same subnet: appended, the first kept
        assert s.add(_rec(digest="d2")) and s.add(_rec(device="cpu-mt"))
        assert len(s) == 4
        df = s.to_dataframe(device="cpu", space_digest="d1")
        assert df["latency_ms"].tolist() == [1.5, 9.9] and df["id"].is_monotonic_increasing
        host = df["host_id"].iloc[0]
        assert s.visits("cpu", "d1", host) == {CFG.key(): 2} and s.keys("cpu", "d1", "another-host") == set()
        assert json.loads(df["fingerprint"].iloc[0])["cores"]  # the host fingerprint of this machine


def test_dataframe_columns_and_failed_nan(tmp_path):
    with LatencyStore(tmp_path / "l.db") as s:
        s.add(_rec())
        s.add(_rec(cfg=SubnetConfig(96, 1, (2.0,), (2,))).fail("export failed: boom\nsecond line"))
        df = s.to_dataframe()
    assert all(c in df.columns for c in REQUIRED)
    ok, bad = df.iloc[0], df.iloc[1]
    assert ok["status"] == "ok" and ok["mlp_ratio"] == "[2.0, 3.0]" and ok["block_ms"] == "[1.5, 1.6]"
    assert bad["status"] == "failed" and math.isnan(bad["latency_ms"]) and "\n" not in bad["reason"]
    assert decode_lists(df)["num_heads"].iloc[0] == [2, 4]


def test_wal_and_persistence_across_connections(tmp_path):
    path = tmp_path / "l.db"
    s = LatencyStore(path)
    s.add(_rec())
    # another connection sees the record at once: it is committed, not buffered
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()
    back = list(LatencyStore(path).records())
    assert back[0].config() == CFG and back[0].block_ms == [1.5, 1.6]
