"""Opening the latency store's file: only what is a store, read-only where nothing is written, migrated
in one transaction, and measured into by one profiler at a time.

An hwnas store carries SQLite's ``application_id`` (:data:`APPLICATION_ID`) and its schema version in
``user_version`` (:mod:`hwnas.profiling.store_schema`). A store of an older schema (version 1, or
unmarked: one ``records`` table keyed by (key, device, space_digest)) is recognised and migrated in
place, losing nothing, when next opened for writing; read-only, it is read as it is. Anything else is
refused and left untouched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sqlite3
import stat
import time
from pathlib import Path
from typing import Iterator, Sequence

from hwnas.core.errors import ConfigError, HwnasError
from hwnas.profiling import store_schema

APPLICATION_ID = 0x68776E73  # "hwns"
SCHEMA_VERSION = 2  # 1: one row per subnet (table records); 2: a log of measurements
_KEY = ("key", "device", "space_digest")


class ForeignStoreError(ConfigError):
    """An SQLite file that is not an hwnas latency store."""


class StoreBusyError(HwnasError, RuntimeError):
    """Another profiler is measuring into the same store."""


def connect(path: Path, read_only: bool) -> sqlite3.Connection:
    """A connection; read-only ones use ``mode=ro`` (``immutable=1`` where the folder is not writable,
    so that no -wal/-shm file is needed)."""
    if not read_only:
        return sqlite3.connect(str(path), timeout=60, isolation_level=None)
    uri = path.resolve().as_uri()
    modes = ["mode=ro", "mode=ro&immutable=1"]
    if not os.access(path.parent, os.W_OK):
        modes = modes[1:]
    for i, mode in enumerate(modes):
        db = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=60, isolation_level=None)
        try:
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return db
        except sqlite3.OperationalError:
            db.close()
            if i == len(modes) - 1:
                raise
    raise AssertionError("unreachable")


def to_wal(db: sqlite3.Connection, patience_s: float = 60.0) -> None:
    """Switch the file to write-ahead logging. Leaving a rollback journal needs the file to itself, and
    SQLite answers "database is locked" at once, without its busy timeout, while another connection
    reads it (several processes opening an older store together): wait and try again."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def identify(db: sqlite3.Connection, path: Path) -> str:
    """'hwnas' (current schema), 'legacy' (schema 1, marked or not: to migrate) or 'empty';
    ForeignStoreError otherwise. Read in one read transaction: a concurrent migration is seen whole
    or not at all (read apart, its new tables beside the old mark looked like another program's)."""
    if db.in_transaction:
        return _identify(db, path)
    db.execute("BEGIN")
    try:
        return _identify(db, path)
    finally:
        db.execute("COMMIT")


def _identify(db: sqlite3.Connection, path: Path) -> str:
    app = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if app == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{path} is a latency store of a newer hwnas (schema {version}; this one "
                f"reads {SCHEMA_VERSION}): upgrade hwnas"
            )
        return "hwnas" if version == SCHEMA_VERSION else "legacy"
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    if app == 0 and not names:
        return "empty"
    if app == 0 and names == {"records"}:
        info = db.execute("PRAGMA table_info(records)").fetchall()
        pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        if pk == _KEY and {"latency_ms", "status", "created_at"} <= {r[1] for r in info}:
            return "legacy"
    raise ForeignStoreError(
        f"{path} is an SQLite file of another program, not an hwnas latency store; "
        "it was left untouched (pass another --db)"
    )


def prepare(db: sqlite3.Connection, path: Path, columns: Sequence[tuple[str, str]]) -> None:
    """Create or migrate the schema and mark the file, in one transaction under SQLite's write lock:
    a crash or a concurrent opener sees the old store or the migrated one, never half of it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        kind = identify(db, path)  # again: another process may have changed it meanwhile
        if kind == "empty":
            store_schema.create(db, columns)
        elif kind == "legacy":
            store_schema.migrate(db, columns)
        store_schema.add_missing(db, store_schema.TABLE, columns)  # columns of a newer hwnas minor
        if kind != "hwnas":
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def profiling_lock(path: Path) -> Iterator[None]:
    """Hold ``STORE.lock`` while measuring. The kernel drops the lock when its holder dies, so a lock
    file left behind by a killed profiler is stale by construction and never blocks."""
    lock = path.with_name(path.name + ".lock")
    try:  # never through a link: a planted one would have us truncate its target
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"{lock} is a symbolic link: remove it (hwnas never writes through one)") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise ConfigError(f"{lock} is not a plain file of its own (a hard link or a device): remove it")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise StoreBusyError(
                f"{holder} is measuring into {path}: two profilers on one machine would "
                "each measure under the other's load; wait for it, or use another --db"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            f"hwnas profile (pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')})".encode(),
            0,
        )
        yield
    finally:
        os.close(fd)
