"""A store written by the previous release (schema 1, tests/fixtures/store_schema1.db) opens, read-only as
it is, and for writing migrated in place in one transaction with every record kept."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from hwnas.profiling import store_file
from hwnas.profiling.store import LatencyStore

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store_schema1.db"


@pytest.fixture
def old_store(tmp_path) -> Path:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    return path


def _rows(path: Path) -> list[dict]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("SELECT * FROM records ORDER BY created_at, rowid")]


def test_fixture_is_schema_1():
    db = sqlite3.connect(f"{FIXTURE.resolve().as_uri()}?mode=ro", uri=True)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    assert db.execute("SELECT COUNT(*), SUM(status='failed') FROM records").fetchone() == (7, 1)


def test_migrated_in_place_losing_nothing(old_store):
    before = _rows(old_store)
    with LatencyStore(old_store) as s:
        df = s.to_dataframe()
    db = sqlite3.connect(old_store)
    assert db.execute("PRAGMA user_version").fetchone()[0] == store_file.SCHEMA_VERSION
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "records" not in tables and "measurements" in tables
    assert len(df) == len(before) == 7
    for old, (_, new) in zip(before, df.iterrows()):  # every column of every row, same order
        for col, value in old.items():
            got = new[col]
            if col == "created_at":
                got = got.timestamp()
            if value is None:
                assert got is None or got != got or got == "", col  # NULL / NaN
            elif isinstance(value, float):
                assert got == pytest.approx(value), col
            else:
                assert got == value, col
    ok = df[df.status == "ok"]
    # the two batches of the old store are two visits; the host is what schema 1 recorded of it
    assert ok["visit"].nunique() == 2 and ok["host_id"].nunique() == 1
    assert json.loads(ok["fingerprint"].iloc[0]) == {
        "cpu": before[0]["host"],
        "runtime": f"onnxruntime {before[0]['runtime_version']}",
    }


def test_read_only_reads_old_schema_without_writing(old_store):
    data = old_store.read_bytes()
    with LatencyStore(old_store, read_only=True) as s:
        df = s.to_dataframe()
        assert len(s) == 7 and len(list(s.records())) == 7
    assert len(df) == 7 and df["visit"].str.startswith("schema1-").all()
    assert old_store.read_bytes() == data  # nothing written, no migration


def test_migrated_store_takes_new_measurements(old_store):
    with LatencyStore(old_store) as s:
        rec = next(r for r in s.records() if r.ok)
        rec.latency_ms, rec.visit = 1.0, "later"
        rec.fingerprint, rec.host_id = '{"cpu": "x", "cores": "2", "runtime": "onnxruntime"}', ""
        rec.__post_init__()
        s.add(rec)
        assert len(s) == 8 and len(s.visits(rec.device, rec.space_digest, rec.host_id)) == 1


def test_failed_migration_leaves_the_old_store(old_store, monkeypatch):
    from hwnas.profiling import store_schema

    def boom(db, columns):
        store_schema.create(db, columns)
        raise sqlite3.DatabaseError("disk on fire")

    monkeypatch.setattr(store_schema, "migrate", boom)
    with pytest.raises(Exception, match="disk on fire"):
        LatencyStore(old_store)
    assert len(_rows(old_store)) == 7  # rolled back: still schema 1, every record
    assert sqlite3.connect(old_store).execute("PRAGMA user_version").fetchone()[0] == 1
