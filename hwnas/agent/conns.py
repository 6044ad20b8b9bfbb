"""Connection bounds in front of aiohttp's request handlers: a cap on open connections, and a deadline
for each connection to deliver a request's headers (counted from when it opened or its last answer
went out, so it doubles as the keep-alive timeout). At the cap a new connection closes the oldest one
not inside a request, so idle connections cannot lock legitimate clients out.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable


class _Conn(asyncio.Protocol):
    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self.guard, self.inner = guard, inner
        self.transport: asyncio.BaseTransport | None = None
        self.since = time.monotonic()
        self.busy = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.guard.opened(self)
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """``ConnectionGuard(factory, cap, header_s)``: a protocol factory for ``loop.create_server``."""

    def __init__(self, factory: Callable[[], Any], cap: int, header_s: float) -> None:
        self.factory, self.cap, self.header_s = factory, cap, header_s
        self.conns: dict[Any, _Conn] = {}  # transport -> connection, oldest first

    def __call__(self) -> _Conn:
        return _Conn(self, self.factory())

    def opened(self, conn: _Conn) -> None:
        self.conns[conn.transport] = conn
        if len(self.conns) > self.cap:
            idle = next((c for c in self.conns.values() if not c.busy and c is not conn), None)
            _abort(idle or conn)

    def closed(self, conn: _Conn) -> None:
        self.conns.pop(conn.transport, None)

    def enter(self, transport: Any) -> None:
        """A request's headers arrived on ``transport``: it is exempt until ``leave``."""
        conn = self.conns.get(transport)
        if conn is not None:
            conn.busy += 1

    def leave(self, transport: Any) -> None:
        conn = self.conns.get(transport)
        if conn is not None:
            conn.busy -= 1
            conn.since = time.monotonic()

    async def sweep(self, every_s: float = 0.5) -> None:
        """Close connections that delivered no request within ``header_s`` (forever; cancel to stop)."""
        while True:
            await asyncio.sleep(every_s)
            limit = time.monotonic() - self.header_s
            for conn in [c for c in self.conns.values() if not c.busy and c.since < limit]:
                _abort(conn)


def _abort(conn: _Conn) -> None:
    if conn.transport is not None:
        conn.transport.abort()  # type: ignore[attr-defined]
    conn.guard.closed(conn)
