"""What the reference ladder measures on this host when it is quiet, remembered across stores and runs.

Why: labels are rescaled batch by batch to the ladder's *baseline* (:mod:`hwnas.profiling.labels`),
and a store alone can only take that baseline from its own batches. A store measured while another
process kept the machine busy the whole time has no quiet batch, so its labels read as slow as the
load made them, however consistent they are with each other. The ladder's figures on one host,
device and space do not depend on the store, so every batch that any profile run measures is
remembered here (the last :data:`KEEP`) together with how many cores *other* processes kept busy
meanwhile (:class:`OthersMeter`, from ``/proc/stat``: immediate, unlike the load average). Each new
record carries the host's quiet baseline known when it was taken (``base_ms``: per rung, the median
over the remembered batches during which others used less than :data:`QUIET_CORES`), so labels are
rescaled to this host's typical quiet speed, while the store stays self-contained: ``hwnas fit``
reads nothing but the store.

A host never quiet while profiling (or whose memory was deleted) has no baseline here, and labels
fall back to the store's own. One JSON file per (device, host_id, space digest) under
``$HWNAS_HOSTS_DIR`` (default ``hosts`` in the user's cache folder: ``$XDG_CACHE_HOME/hwnas``, ``~/.cache/hwnas``
when unset, on Linux); a file that cannot be read or written is skipped with a warning, never fatal to
profiling. Threads and processes remembering into one file at once take turns (an exclusive lock on
``.NAME.lock`` beside it) and each writes the whole file atomically, so no batch is lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.atomic import atomic_write_text
from hwnas.core.errors import ConfigError
from hwnas.profiling.ladder import BASELINE_QUANTILE

HOSTS_ENV = "HWNAS_HOSTS_DIR"
KEEP = 512  # batches remembered per (device, host, space)
MIN_BATCHES = 3  # fewer quiet ones: no baseline yet
QUIET_CORES = 0.25  # a batch is quiet when other processes kept less than this many cores busy
MIN_WINDOW_S = 0.5  # shorter blocks: unknown (a real batch takes seconds)


def hosts_dir() -> Path:
    """``$HWNAS_HOSTS_DIR``, else ``hosts`` in the user's cache folder."""
    env = os.environ.get(HOSTS_ENV)
    if env:
        return Path(env)
    import platformdirs  # here: measuring agents import this module for OthersMeter alone, without it

    return Path(platformdirs.user_cache_dir("hwnas")) / "hosts"


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.NAME.lock`` beside ``path`` (threads and processes alike: each holder opens
    the lock file itself). A symbolic link in its place is refused (OSError), not followed."""
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _busy_seconds() -> float:
    """CPU seconds all processes spent busy since boot (user, nice, system, irq, softirq); NaN off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        ticks = sum(int(fields[i]) for i in (1, 2, 3, 6, 7))
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


class OthersMeter:
    """``with OthersMeter() as m: ...`` then ``m.cores``: the cores that processes other than this one
    kept busy over the block, on average (NaN where the system does not say, or the block is shorter
    than :data:`MIN_WINDOW_S`)."""

    cores = math.nan

    def __enter__(self) -> OthersMeter:
        self._t, self._busy, self._own = time.perf_counter(), _busy_seconds(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t
        others = (_busy_seconds() - self._busy) - (time.process_time() - self._own)
        # /proc/stat counts in clock ticks (10 ms): over a short block that rounding alone reads as load
        self.cores = max(0.0, others / wall) if wall >= MIN_WINDOW_S and math.isfinite(others) else math.nan


def _ok(figures: Sequence[float]) -> bool:
    return all(math.isfinite(x) and x > 0 for x in figures)


class HostMemory:
    """The remembered ladder batches of one (device, host_id, space digest) and its rung keys."""

    def __init__(
        self, device: str, host_id: str, space_digest: str, rungs: Sequence[str], folder: Path | None = None
    ) -> None:
        self.rungs = list(rungs)
        self.path = (folder or hosts_dir()) / f"{device}-{host_id}-{space_digest[:12]}.json"

    def batches(self) -> list[dict[str, Any]]:
        """The remembered batches (oldest first), each {"ms": figures, "others": cores}; [] when none,
        unreadable or of another ladder."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            warnings.warn(f"host ladder memory {self.path} not read: {e}", stacklevel=2)
            return []
        if not isinstance(data, dict) or data.get("rungs") != self.rungs:
            return []
        n = len(self.rungs)
        return [
            {"ms": [float(x) for x in b["ms"]], "others": float(b.get("others", math.nan))}
            for b in data.get("batches", [])
            if isinstance(b, dict) and isinstance(b.get("ms"), list) and len(b["ms"]) == n
        ]

    def baseline(self) -> list[float]:
        """Per rung, the median over the quiet remembered batches; [] below :data:`MIN_BATCHES` of them.
        Where the system does not say how busy others were (NaN), every batch counts as quiet."""
        return _quiet_baseline(self.batches())

    def remember(self, figures: Sequence[float], others: float = math.nan) -> list[float]:
        """Append one batch's ladder figures and the cores others used meanwhile (read, append and atomic
        replace under the file's lock; a failure warns and is otherwise ignored); returns the
        :meth:`baseline` that includes it."""
        if len(figures) != len(self.rungs) or not _ok(figures):
            return self.baseline()
        batch = {"ms": [float(x) for x in figures], "others": others}
        kept: list[dict[str, Any]] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with exclusive(self.path):
                kept = [*self.batches(), batch][-KEEP:]
                atomic_write_text(self.path, json.dumps({"rungs": self.rungs, "batches": kept}))
        except (OSError, ConfigError) as e:
            warnings.warn(f"host ladder memory {self.path} not written: {e}", stacklevel=2)
        return _quiet_baseline(kept or [*self.batches(), batch][-KEEP:])


def _quiet_baseline(batches: list[dict[str, Any]]) -> list[float]:
    rows = [b["ms"] for b in batches if _ok(b["ms"]) and not b["others"] >= QUIET_CORES]
    if len(rows) < MIN_BATCHES:
        return []
    return [float(v) for v in np.percentile(np.array(rows, dtype=float), BASELINE_QUANTILE, axis=0)]
