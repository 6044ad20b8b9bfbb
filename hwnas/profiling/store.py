"""The latency store: one SQLite file in WAL mode; every record is committed the moment it is added.

A SIGKILL at any moment loses at most the measurement in progress (never a committed one): SQLite's
write-ahead log makes each commit atomic and durable (``synchronous=FULL``). The primary key
(key, device, space_digest) makes a second measurement of the same subnet impossible; the profiling
pipeline asks ``has()`` first, so a restarted run measures only what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import ContextManager, Iterator

import pandas as pd

from hwnas.core.errors import ConfigError, HwnasError, NotFoundError
from hwnas.profiling import store_file
from hwnas.profiling.record import FLOAT_COLUMNS, LatencyRecord

_TYPES = {"int": "INTEGER", "float": "REAL"}
_LIST_COLUMNS = ("mlp_ratio", "num_heads", "block_ms")


class StoreAccessError(HwnasError, OSError):
    """The store exists but SQLite cannot read or write it here (locked, read-only, full disk)."""


def _hint(path: Path) -> str:
    """Why SQLite may have failed: its own messages ('disk I/O error') do not say."""
    if not os.access(path.parent, os.W_OK):
        return f" ({path.parent} is read-only here)"
    try:
        if shutil.disk_usage(path.parent).free < 1 << 20:
            return " (the disk is full)"
    except OSError:
        pass
    return ""


def _columns() -> list[tuple[str, str]]:
    out = []
    for f in fields(LatencyRecord):
        tname = f.type if isinstance(f.type, str) else f.type.__name__  # annotations are strings
        out.append((f.name, _TYPES.get(tname, "TEXT")))
    return out


class LatencyStore:
    """``LatencyStore(path)``: add / has / records / to_dataframe over one SQLite file (created if absent).

    Only an hwnas store (or an empty file) is opened: see :mod:`hwnas.profiling.store_file`."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        """``read_only``: open an existing store without writing anything (works on read-only storage)."""
        self.path, self.read_only = Path(path), read_only
        if read_only and not self.path.is_file():
            raise NotFoundError(f"no latency store at {self.path}")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = None
        try:
            self._db = store_file.connect(self.path, read_only)
            kind = store_file.identify(self._db, self.path)  # before anything is written
            if read_only and kind == "empty":
                raise ConfigError(f"{self.path} is empty: no latency store yet (run 'hwnas profile')")
            if not read_only:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                store_file.prepare(self._db, self.path, _columns())
        except sqlite3.OperationalError as e:
            self.close()
            hint = _hint(self.path)
            raise StoreAccessError(
                f"cannot {'read' if read_only else 'write'} the latency store {self.path}: {e}{hint}"
            ) from None
        except sqlite3.DatabaseError as e:
            self.close()
            raise ConfigError(f"{self.path} is not a latency store: {e}") from None
        except BaseException:
            self.close()
            raise
        self._cols = [c for c, _ in _columns()]

    def profiling(self) -> ContextManager[None]:
        """Held while measuring into this store: a second profiler is refused (StoreBusyError)."""
        return store_file.profiling_lock(self.path)

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError(f"the latency store {self.path} is closed")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> LatencyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has(self, key: str, device_name: str, space_digest: str | None = None) -> bool:
        """Whether ``key`` was measured (ok or failed) on ``device_name`` (in that space, if given)."""
        q, args = "SELECT 1 FROM records WHERE key=? AND device=?", [key, device_name]
        if space_digest is not None:
            q, args = q + " AND space_digest=?", args + [space_digest]
        return self._conn.execute(q + " LIMIT 1", args).fetchone() is not None

    def keys(self, device_name: str, space_digest: str | None = None) -> set[str]:
        q, args = "SELECT key FROM records WHERE device=?", [device_name]
        if space_digest is not None:
            q, args = q + " AND space_digest=?", args + [space_digest]
        return {r[0] for r in self._conn.execute(q, args)}

    def add(self, record: LatencyRecord) -> bool:
        """Commit one record now. False (and nothing written) if that subnet is already stored."""
        row = record.to_row()
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            cur = self._conn.execute(f"INSERT OR IGNORE INTO records ({cols}) VALUES ({marks})", list(row.values()))
        except sqlite3.OperationalError as e:  # full disk, read-only file: the committed records are kept
            raise StoreAccessError(
                f"cannot write to the latency store {self.path}: {e}{_hint(self.path)} "
                "(every record committed before is kept)"
            ) from None
        return cur.rowcount == 1

    def _select(self, device: str | None, space_digest: str | None) -> tuple[str, list[str]]:
        where, args = [], []
        if device is not None:
            where.append("device=?")
            args.append(device)
        if space_digest is not None:
            where.append("space_digest=?")
            args.append(space_digest)
        q = "SELECT * FROM records" + (" WHERE " + " AND ".join(where) if where else "")
        return q + " ORDER BY created_at, rowid", args

    def records(self, device: str | None = None, space_digest: str | None = None) -> Iterator[LatencyRecord]:
        q, args = self._select(device, space_digest)
        cur = self._conn.execute(q, args)
        names = [d[0] for d in cur.description]
        for row in cur:
            yield LatencyRecord.from_row(dict(zip(names, row)))

    def to_dataframe(self, device: str | None = None, space_digest: str | None = None) -> pd.DataFrame:
        """All records (optionally of one device / space) as a DataFrame; list columns stay JSON text,
        ``latency_ms`` is NaN for failed records, ``created_at`` is a UTC timestamp."""
        q, args = self._select(device, space_digest)
        df = pd.read_sql_query(q, self._db, params=args)
        for c in self._cols:
            if c not in df:
                df[c] = None
        df = df[self._cols]
        for c in FLOAT_COLUMNS:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        df["created_at"] = pd.to_datetime(df["created_at"], unit="s", utc=True)
        return df

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def summary(self) -> list[dict[str, object]]:
        """Per device and space: counts and the latency range of ok records."""
        q = (
            "SELECT device, space, SUM(status='ok'), SUM(status!='ok'), MIN(latency_ms), "
            "MAX(latency_ms), AVG(spread) FROM records GROUP BY device, space_digest ORDER BY device"
        )
        keys = ("device", "space", "ok", "failed", "min_ms", "max_ms", "mean_spread")
        return [dict(zip(keys, r)) for r in self._conn.execute(q)]


def decode_lists(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with the JSON list columns decoded into Python lists."""
    out = df.copy()
    for c in _LIST_COLUMNS:
        out[c] = out[c].map(lambda s: json.loads(s) if isinstance(s, str) else s)
    return out
