"""Profiling throughput: subnets per minute on the `cpu` device and where the time goes.

Profiles N subnets of a space (default: the bundled mnist-cpu preset) into a fresh temporary store,
exactly as `hwnas profile` does, and prints subnets/min and the shares of export (extract + ONNX
export), setup (session creation) and measuring (the protocol with its reference ladder, including
re-measurements and the default retests). Run it on
an otherwise quiet machine and note the load average it prints: other processes slow every share.

    python benchmarks/profiling_throughput.py [-n 40] [--space mnist-cpu] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from hwnas.core import presets
from hwnas.pipelines.profile import profile_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--space", default=presets.DEFAULT_SPACE)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}  cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = profile_space(presets.get(a.space), a.device, a.n, os.path.join(tmp, "l.db"), seed=a.seed)
        wall = time.perf_counter() - t0  # includes building the supernet once
    sec = dict(s.seconds)
    sec["other (supernet build, store, ...)"] = wall - sum(sec.values())
    subnets = len({r.key for r in s.records})
    print(
        f"{subnets} subnets ({s.failed} failed measurements, {s.retested} retests in later batches, "
        f"{len(s.records)} measurements) in {wall:.1f} s: {60 * subnets / wall:.1f} subnets/min "
        f"(goal >= 30; retests and the reference ladder included)"
    )
    for k, v in sec.items():
        print(f"  {k:<36} {v:7.1f} s  {100 * v / wall:5.1f} %  {v / max(1, len(s.records)):.3f} s/subnet")
    ok = [r for r in s.records if r.ok]
    if ok:
        att = sum(r.attempts > 1 for r in ok)
        print(
            f"re-measured (spread too wide): {att}/{len(ok)};  runs per subnet: "
            f"{sum(r.runs for r in ok) / len(ok):.0f};  median spread {sorted(r.spread for r in ok)[len(ok) // 2]:.3f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
