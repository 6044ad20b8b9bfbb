"""The latency store: one SQLite file in WAL mode, an append-only log of measurements; every one is
committed the moment it is added.

A SIGKILL at any moment loses at most the measurement in progress (never a committed one): SQLite's
write-ahead log makes each commit atomic and durable (``synchronous=FULL``). A subnet may be measured
any number of times (each row carries its batch ``visit`` and its host); labels are derived from the
rows in :mod:`hwnas.profiling.labels`. The profiling pipeline asks ``keys()`` first, so a restarted run
measures only what is missing on this host. Schema and migration: :mod:`hwnas.profiling.store_schema`.
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
from hwnas.profiling import store_file, store_schema
from hwnas.profiling.record import FLOAT_COLUMNS, LIST_FIELDS, LatencyRecord

_TYPES = {"int": "INTEGER", "float": "REAL"}
_LIST_COLUMNS = LIST_FIELDS


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
            if read_only and kind == "legacy":  # read as it is; migrated when next opened for writing
                store_schema.legacy_view(self._db, _columns())
            if not read_only:
                store_file.to_wal(self._db)
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

    def has(self, key: str, device_name: str, space_digest: str | None = None, host_id: str | None = None) -> bool:
        """Whether ``key`` was measured (ok or failed) on ``device_name`` (in that space, on that host)."""
        q, args = self._select(device_name, space_digest, host_id, what="1", key=key)
        return self._conn.execute(q + " LIMIT 1", args).fetchone() is not None

    def keys(self, device_name: str, space_digest: str | None = None, host_id: str | None = None) -> set[str]:
        """Subnets measured (ok or failed) at least once on ``device_name`` (in that space, on that host)."""
        q, args = self._select(device_name, space_digest, host_id, what="key")
        return {r[0] for r in self._conn.execute(q, args)}

    def visits(self, device_name: str, space_digest: str, host_id: str) -> dict[str, int]:
        """Successful measurements per subnet on that device, space and host."""
        q = (
            f"SELECT key, COUNT(*) FROM {store_schema.TABLE} WHERE device=? AND space_digest=? AND host_id=? "
            "AND status='ok' GROUP BY key"
        )
        return {k: int(n) for k, n in self._conn.execute(q, (device_name, space_digest, host_id))}

    def add(self, record: LatencyRecord) -> bool:
        """Append one measurement and commit it now (a subnet may be measured any number of times)."""
        row = record.to_row()
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            cur = self._conn.execute(f"INSERT INTO {store_schema.TABLE} ({cols}) VALUES ({marks})", list(row.values()))
        except sqlite3.OperationalError as e:  # full disk, read-only file: the committed records are kept
            raise StoreAccessError(
                f"cannot write to the latency store {self.path}: {e}{_hint(self.path)} "
                "(every record committed before is kept)"
            ) from None
        return cur.rowcount == 1

    def _select(
        self,
        device: str | None,
        space_digest: str | None,
        host_id: str | None = None,
        what: str = "*",
        key: str | None = None,
    ) -> tuple[str, list[str]]:
        where, args = [], []
        for col, value in (("device", device), ("space_digest", space_digest), ("host_id", host_id), ("key", key)):
            if value is not None:
                where.append(f"{col}=?")
                args.append(value)
        q = f"SELECT {what} FROM {store_schema.TABLE}" + (" WHERE " + " AND ".join(where) if where else "")
        return q + ("" if what != "*" else " ORDER BY id"), args

    def records(
        self, device: str | None = None, space_digest: str | None = None, host_id: str | None = None
    ) -> Iterator[LatencyRecord]:
        """Every measurement (optionally of one device / space / host), in the order they were added."""
        q, args = self._select(device, space_digest, host_id)
        cur = self._conn.execute(q, args)
        names = [d[0] for d in cur.description]
        for row in cur:
            yield LatencyRecord.from_row(dict(zip(names, row)))

    def to_dataframe(
        self, device: str | None = None, space_digest: str | None = None, host_id: str | None = None
    ) -> pd.DataFrame:
        """All measurements (optionally of one device / space / host) as a DataFrame, one row each with
        its ``id``; list columns stay JSON text, ``latency_ms`` is NaN for failed records, ``created_at``
        is a UTC timestamp."""
        q, args = self._select(device, space_digest, host_id)
        df = pd.read_sql_query(q, self._db, params=args)
        for c in ["id", *self._cols]:
            if c not in df:
                df[c] = None
        df = df[["id", *self._cols]]
        for c in FLOAT_COLUMNS:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        df["created_at"] = pd.to_datetime(df["created_at"], unit="s", utc=True)
        return df

    def __len__(self) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {store_schema.TABLE}").fetchone()[0])

    def summary(self) -> list[dict[str, object]]:
        """Per device, space and host: measurements (ok, failed), distinct subnets, the latency range."""
        q = (
            "SELECT device, space, host_id, SUM(status='ok'), SUM(status!='ok'), COUNT(DISTINCT key), "
            f"MIN(latency_ms), MAX(latency_ms), AVG(spread) FROM {store_schema.TABLE} "
            "GROUP BY device, space_digest, host_id ORDER BY device"
        )
        keys = ("device", "space", "host_id", "ok", "failed", "subnets", "min_ms", "max_ms", "mean_spread")
        return [dict(zip(keys, r)) for r in self._conn.execute(q)]


def decode_lists(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with the JSON list columns decoded into Python lists."""
    out = df.copy()
    for c in _LIST_COLUMNS:
        out[c] = out[c].map(lambda s: json.loads(s) if isinstance(s, str) else s)
    return out
