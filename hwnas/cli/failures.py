"""The CLI's one error path: expected failures become one line; only bugs show a traceback.

Expected: every :class:`HwnasError`, any ``OSError`` (missing file, permission, read-only or full disk),
SQLite's operational errors, and interruption (SIGINT; SIGTERM is turned into the same, so that
``finally`` blocks remove temporary files either way).
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sqlite3
import threading
from types import FrameType
from typing import Iterator

from hwnas.core.errors import HwnasError

EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 130, 143

_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
_KEPT = "; nothing half-written was published and earlier outputs are kept"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that cleanup runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def one_line(exc: BaseException) -> str | None:
    """The one-line message of an expected failure; None for a bug."""
    if isinstance(exc, HwnasError):
        return " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc) or type(exc).__name__
        where = f": {exc.filename}" if exc.filename else ""
        hint = _HINTS.get(exc.errno or 0)
        tail = _KEPT if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else ""
        return f"{what}{where}" + (f" ({hint})" if hint and hint.lower() not in what.lower() else "") + tail
    if isinstance(exc, sqlite3.OperationalError):
        return f"latency store: {exc}" + _KEPT
    return None
