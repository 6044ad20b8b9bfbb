"""Latency measurement: the protocol, the runtime backends (``backends/``), the store, sampling.

Nothing here imports torch; runtime packages are imported only by their backend, when it is used.
``LatencyRecord`` and ``LatencyStore`` are loaded on first access (the store needs pandas; the backends,
which device definitions consult, need neither).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hwnas.profiling.record import LatencyRecord
    from hwnas.profiling.store import LatencyStore

__all__ = ["LatencyRecord", "LatencyStore"]


def __getattr__(name: str) -> Any:
    if name == "LatencyRecord":
        from hwnas.profiling.record import LatencyRecord

        return LatencyRecord
    if name == "LatencyStore":
        from hwnas.profiling.store import LatencyStore

        return LatencyStore
    raise AttributeError(f"module 'hwnas.profiling' has no attribute {name!r}")
