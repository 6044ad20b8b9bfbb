"""Profiling throughput: subnets per minute on the `cpu` device and where the time goes.

Profiles N subnets of a space (default: the bundled mnist-cpu preset) into a fresh temporary store,
exactly as `hwnas profile` does, once per --visits value (default: 3, the default protocol, 2, and 1,
the quickest), one after the other in one run, and prints subnets/min, their ratio and the shares of
export (extract + ONNX export), setup (session creation) and measuring (the protocol with its
reference ladder, including retests and extra visits). Run it on an otherwise quiet
machine and note the load average it prints: other processes slow every share.

    python benchmarks/profiling_throughput.py [-n 40] [--space mnist-cpu] [--device cpu] [--visits 3,2,1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from hwnas.core import presets
from hwnas.devices.host import cpu_model
from hwnas.pipelines.profile import profile_space


def one(space_name: str, device: str, n: int, seed: int, visits: int) -> float:
    """Profile into a fresh store, print the breakdown, return subnets/min."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = profile_space(presets.get(space_name), device, n, os.path.join(tmp, "l.db"), seed=seed, visits=visits)
        wall = time.perf_counter() - t0  # includes building the supernet once
    sec = dict(s.seconds)
    sec["other (supernet build, store, ...)"] = wall - sum(sec.values())
    subnets = len({r.key for r in s.records})
    rate = 60 * subnets / wall
    print(
        f"--visits {visits}: {subnets} subnets ({s.failed} failed measurements, {s.retested} later visits, "
        f"{len(s.records)} measurements) in {wall:.1f} s: {rate:.1f} subnets/min "
        f"(goal >= 30; all visits and the reference ladder included)"
    )
    for k, v in sec.items():
        print(f"  {k:<36} {v:7.1f} s  {100 * v / wall:5.1f} %  {v / max(1, len(s.records)):.3f} s/measurement")
    ok = [r for r in s.records if r.ok]
    if ok:
        att = sum(r.attempts > 1 for r in ok)
        print(
            f"  re-measured (spread too wide): {att}/{len(ok)};  runs per measurement: "
            f"{sum(r.runs for r in ok) / len(ok):.0f};  median spread {sorted(r.spread for r in ok)[len(ok) // 2]:.3f}"
        )
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--space", default=presets.DEFAULT_SPACE)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--visits", default="3,2,1", help="comma-separated visit counts, profiled in this order")
    a = ap.parse_args()
    print(f"CPU: {cpu_model()} ({platform.machine()}), {os.cpu_count()} logical CPUs")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    rates = {v: one(a.space, a.device, a.n, a.seed, v) for v in (int(x) for x in a.visits.split(","))}
    if len(rates) > 1:
        first, *rest = rates
        ratios = ", ".join(f"--visits {v} / --visits {first}: {rates[v] / rates[first]:.2f}" for v in rest)
        print(f"subnets/min ratio: {ratios}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
