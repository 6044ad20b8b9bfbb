"""What the reference ladder measures on this host, remembered across stores and runs.

Why: labels are rescaled batch by batch to the ladder's *baseline* (:mod:`hwnas.pipelines.labels`),
and a store alone can only take that baseline from its own fastest batches. A store measured while
another process kept the machine busy the whole time has no fast batch, so its labels read as slow as
the load made them (about 7 % here under a busy loop), however consistent they are with each other.
The ladder's figures on one host, device and space do not depend on the store, so every batch that
any profile run measures is remembered here (the last :data:`KEEP`), and each new record carries the
host's baseline known when it was taken (``base_ms``: per rung, the 10th percentile of the remembered
batches). Labels are then rescaled to the quietest conditions this host has shown, not only this
store, while the store stays self-contained: ``hwnas fit`` reads nothing but the store.

A host that was never quiet while profiling (no earlier run, the memory deleted) gives the store's
own baseline, as before. One JSON file per (device, host_id, space digest) under
``$HWNAS_HOSTS_DIR`` (default ``$XDG_CACHE_HOME/hwnas/hosts``, ``~/.cache`` when unset); a file that
cannot be read or written is skipped with a warning, never fatal to profiling.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HOSTS_ENV = "HWNAS_HOSTS_DIR"
KEEP = 512  # batches remembered per (device, host, space)
MIN_BATCHES = 3  # fewer: no baseline yet
BASELINE_QUANTILE = 10  # the same statistic the store's own baseline uses


def hosts_dir() -> Path:
    if os.environ.get(HOSTS_ENV):
        return Path(os.environ[HOSTS_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hwnas" / "hosts"


class HostMemory:
    """The remembered ladder batches of one (device, host_id, space digest) and its rung keys."""

    def __init__(self, device: str, host_id: str, space_digest: str, rungs: Sequence[str], folder: Path | None = None):
        self.rungs = list(rungs)
        self.path = (folder or hosts_dir()) / f"{device}-{host_id}-{space_digest[:12]}.json"

    def batches(self) -> list[list[float]]:
        """The remembered batches (oldest first) whose rungs match; [] when none or unreadable."""
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
        return [[float(x) for x in b] for b in data.get("batches", []) if isinstance(b, list) and len(b) == n]

    def baseline(self) -> list[float]:
        """Per rung, the 10th percentile of the remembered figures; [] below :data:`MIN_BATCHES`."""
        rows = np.array([b for b in self.batches() if all(math.isfinite(x) and x > 0 for x in b)], dtype=float)
        if len(rows) < MIN_BATCHES:
            return []
        return [float(v) for v in np.percentile(rows, BASELINE_QUANTILE, axis=0)]

    def remember(self, figures: Sequence[float]) -> None:
        """Append one batch's ladder figures (atomic replace; a failure warns and is otherwise ignored)."""
        if len(figures) != len(self.rungs) or not all(math.isfinite(x) and x > 0 for x in figures):
            return
        kept = [*self.batches(), [float(x) for x in figures]][-KEEP:]
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".hwnas-host-")
            with os.fdopen(fd, "w") as f:
                json.dump({"rungs": self.rungs, "batches": kept}, f)
            os.replace(tmp, self.path)
        except OSError as e:
            warnings.warn(f"host ladder memory {self.path} not written: {e}", stacklevel=2)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
