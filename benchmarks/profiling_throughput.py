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
import resource
import tempfile
import time

from record import Notes, Table, save

from hwnas.core import presets
from hwnas.devices.host import cpu_model
from hwnas.pipelines.profile import profile_space
from hwnas.profiling.labels import retest_noise_of
from hwnas.profiling.store import LatencyStore

RATES = Table(
    "Subnets per minute, each --visits value one after the other in one run (goals on cpu: mnist-cpu >= 40, "
    "autoformer-tiny >= 15, autoformer-small >= 5; all visits and the reference ladder included), the store's "
    "retest (goal <= 2 % median) and the process's peak memory (goal <= 2 GB)",
    [
        "visits",
        "subnets",
        "failed",
        "later visits",
        "measurements",
        "wall s",
        "subnets/min",
        "retest median %",
        "retest p90 %",
        "peak memory GiB",
    ],
)
SHARES = Table("Where the time goes", ["visits", "share", "s", "% of wall", "s/measurement"])
NOTES = Notes()


def one(space_name: str, device: str, n: int, seed: int, visits: int) -> float:
    """Profile into a fresh store, print the breakdown, return subnets/min."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = profile_space(presets.get(space_name), device, n, os.path.join(tmp, "l.db"), seed=seed, visits=visits)
        wall = time.perf_counter() - t0  # includes building the supernet once
        with LatencyStore(os.path.join(tmp, "l.db")) as store:
            df = store.to_dataframe(device)
        retest = retest_noise_of(df[df["status"] == "ok"])
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    sec = dict(s.seconds)
    sec["other (supernet build, store, ...)"] = wall - sum(sec.values())
    subnets = len({r.key for r in s.records})
    rate = 60 * subnets / wall
    print(
        f"--visits {visits}: {subnets} subnets ({s.failed} failed measurements, {s.retested} later visits, "
        f"{len(s.records)} measurements) in {wall:.1f} s: {rate:.1f} subnets/min "
        "(all visits and the reference ladder included)"
    )
    med, p90 = (f"{100 * retest[q]:.2f}" if retest[q] is not None else "-" for q in ("median", "p90"))
    print(
        f"  store retest (first two visits, ladder-corrected): median {med} %, p90 {p90} % over "
        f"{retest['subnets']} subnets; peak memory of this process so far {peak_gb:.2f} GiB"
    )
    RATES.add(
        visits, subnets, s.failed, s.retested, len(s.records), f"{wall:.1f}", f"{rate:.1f}", med, p90, f"{peak_gb:.2f}"
    )
    for k, v in sec.items():
        print(f"  {k:<36} {v:7.1f} s  {100 * v / wall:5.1f} %  {v / max(1, len(s.records)):.3f} s/measurement")
        SHARES.add(visits, k, f"{v:.1f}", f"{100 * v / wall:.1f}", f"{v / max(1, len(s.records)):.3f}")
    ok = [r for r in s.records if r.ok]
    if ok:
        att = sum(r.attempts > 1 for r in ok)
        line = (
            f"re-measured (spread too wide): {att}/{len(ok)};  runs per measurement: "
            f"{sum(r.runs for r in ok) / len(ok):.0f};  median spread {sorted(r.spread for r in ok)[len(ok) // 2]:.3f}"
        )
        print(f"  {line}")
        NOTES.append(f"--visits {visits}: {line}")
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
        NOTES.say(f"subnets/min ratio: {ratios}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    save(__file__, [RATES, SHARES], NOTES)


if __name__ == "__main__":
    main()
