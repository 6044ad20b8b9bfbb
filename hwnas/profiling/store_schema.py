"""The store's schema: an append-only log of measurements, and the migration from schema 1.

Schema 2 (current): table ``measurements``, one row per measurement of a subnet (``id`` increasing),
with the columns of :class:`~hwnas.profiling.record.LatencyRecord` (its batch ``visit``, host
``fingerprint`` and ``host_id`` among them). Nothing is ever updated or replaced.

Schema 1 (and the unmarked stores before it): table ``records``, one row per (key, device,
space_digest). Migration copies every row into ``measurements`` in one transaction and drops
``records``. What a schema-1 row did not record is derived, never invented:

* ``visit``: the rows of one batch share their reference figure ``ref_ms``, so a row's visit is
  ``schema1-<ref_ms>`` (``schema1-row<rowid>`` where it has none, e.g. a failed record);
* ``fingerprint``: what the row says of its host, ``{"cpu": host, "runtime": "<runtime> <version>"}``
  (no core count: schema 1 did not store it). Its host_id therefore differs from that of new
  measurements on the same machine, and a fit asks which host to use rather than mixing them.

A read-only connection cannot migrate: it reads a schema-1 store through a temporary view with the
same derivations.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

TABLE = "measurements"
LEGACY_TABLE = "records"
_DERIVED = ("visit", "fingerprint", "host_id")


def legacy_fingerprint(host: str | None, runtime: str | None, version: str | None) -> str:
    """The fingerprint a schema-1 row implies (only what it recorded)."""
    rt = " ".join(p for p in (runtime or "", version or "") if p)
    return json.dumps({"cpu": host or "", "runtime": rt}, sort_keys=True)


def register_functions(db: sqlite3.Connection) -> None:
    from hwnas.profiling.record import host_id_of

    db.create_function("hwnas_legacy_fp", 3, legacy_fingerprint, deterministic=True)
    db.create_function("hwnas_host_id", 1, host_id_of, deterministic=True)


def create(db: sqlite3.Connection, columns: Sequence[tuple[str, str]]) -> None:
    cols = ", ".join(f"{c} {t}" for c, t in columns)
    db.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
    db.execute(f"CREATE INDEX {TABLE}_subnet ON {TABLE} (device, space_digest, key)")


def add_missing(db: sqlite3.Connection, table: str, columns: Sequence[tuple[str, str]]) -> None:
    """Columns a store of an older hwnas lacks are added (NULL: read back as the field's default)."""
    have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
    for c, t in columns:
        if c not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {c} {t}")


def _legacy_select(names: Sequence[str], with_id: bool) -> str:
    fp = "hwnas_legacy_fp(host, runtime, runtime_version)"
    derived = {
        "visit": "'schema1-' || COALESCE(CAST(ref_ms AS TEXT), 'row' || rowid)",
        "fingerprint": fp,
        "host_id": f"hwnas_host_id({fp})",
    }
    cols = [f"{derived[c]} AS {c}" if c in derived else c for c in names]
    head = "rowid AS id, " if with_id else ""
    return f"SELECT {head}{', '.join(cols)} FROM {LEGACY_TABLE} ORDER BY created_at, rowid"


def migrate(db: sqlite3.Connection, columns: Sequence[tuple[str, str]]) -> int:
    """Schema 1 -> 2 inside the caller's transaction; returns the number of rows carried over."""
    register_functions(db)
    add_missing(db, LEGACY_TABLE, [(c, t) for c, t in columns if c not in _DERIVED])
    create(db, columns)
    names = [c for c, _ in columns]
    db.execute(f"INSERT INTO {TABLE} ({', '.join(names)}) {_legacy_select(names, with_id=False)}")
    moved = db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]
    if moved != db.execute(f"SELECT COUNT(*) FROM {LEGACY_TABLE}").fetchone()[0]:
        raise sqlite3.DatabaseError("migration lost rows")  # rolled back by the caller
    db.execute(f"DROP TABLE {LEGACY_TABLE}")
    return int(moved)


def legacy_view(db: sqlite3.Connection, columns: Sequence[tuple[str, str]]) -> None:
    """A temporary ``measurements`` view over a schema-1 store (read-only connections)."""
    register_functions(db)
    have = {r[1] for r in db.execute(f"PRAGMA table_info({LEGACY_TABLE})")}
    names = [c for c, _ in columns if c in have or c in _DERIVED]
    db.execute(f"CREATE TEMP VIEW {TABLE} AS {_legacy_select(names, with_id=True)}")
