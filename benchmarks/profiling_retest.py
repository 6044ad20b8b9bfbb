"""Test-retest: the same subnets profiled twice, minutes apart, once with a CPU-heavy process running.

Profiles the first N (default 50) subnets of the plan of a space (default mnist-cpu) into store A,
waits, starts a Python busy loop (its own process, stopped by its pid afterwards), profiles the same
subnets into store B, and prints the relative disagreement |A - B| / mean(A, B) per subnet: median and
worst (goal: <= 3 % median, <= 8 % worst) for the central figure `latency_ms` (10th percentile of
runs); for comparison also for the median of runs, and for latency_ms divided by the reference
subnet measured in the same batch (`ref_ms`).

    python benchmarks/profiling_retest.py [-n 50] [--gap 30] [--device cpu] [--no-busy]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from hwnas.core import presets
from hwnas.pipelines.profile import profile_space
from hwnas.profiling.store import LatencyStore


def _profile(space, device: str, n: int, db: str, label: str) -> dict[str, tuple[float, float, float]]:
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    s = profile_space(space, device, n, db)
    print(
        f"run {label}: {len(s.records)} subnets in {time.perf_counter() - t0:.0f} s, load average "
        f"{load0:.2f} -> {os.getloadavg()[0]:.2f}, re-measured {sum(r.attempts > 1 for r in s.records)}",
        flush=True,
    )
    with LatencyStore(db) as st:
        return {r.key: (r.latency_ms, r.median_ms, r.latency_ms / r.ref_ms) for r in st.records() if r.ok}


def _disagreement(a: dict, b: dict, i: int) -> np.ndarray:
    keys = sorted(set(a) & set(b))
    x, y = np.array([a[k][i] for k in keys]), np.array([b[k][i] for k in keys])
    return np.abs(x - y) / ((x + y) / 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--space", default=presets.DEFAULT_SPACE)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--gap", type=float, default=30.0, help="seconds between the two runs")
    ap.add_argument("--no-busy", action="store_true", help="no busy process during run B")
    a = ap.parse_args()
    space = presets.get(a.space)
    with tempfile.TemporaryDirectory() as tmp:
        A = _profile(space, a.device, a.n, os.path.join(tmp, "a.db"), "A (no extra load)")
        time.sleep(a.gap)
        busy = None if a.no_busy else subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            B = _profile(
                space,
                a.device,
                a.n,
                os.path.join(tmp, "b.db"),
                "B" + ("" if busy is None else f" (busy loop pid {busy.pid} running)"),
            )
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    print(f"{len(set(A) & set(B))} subnets in both runs; relative disagreement |A-B|/mean:")
    for i, name in enumerate(("latency_ms (p10 of runs)", "median of runs", "latency_ms / ref_ms")):
        d = _disagreement(A, B, i)
        print(
            f"  {name:<26} median {100 * np.median(d):5.2f} %   90th pct {100 * np.percentile(d, 90):5.2f} %"
            f"   worst {100 * d.max():5.2f} %"
        )
    print("goal: latency_ms median <= 3 %, worst <= 8 %")


if __name__ == "__main__":
    main()
