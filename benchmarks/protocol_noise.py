"""Which batch size and re-measurement rule buy the most repeatable visits per second of profiling.

Each variant (``BATCHxRETRIES``: subnets per batch, re-measurements of a record whose blocks spread
too wide) profiles the same N subnets (default 40) of a space into a fresh store, every subnet in
``--visits`` visits, beside a busy-loop process (``--no-busy``: none). Variants take turns, ``--cycles``
times, so a slow stretch of the host falls on all of them. Per run: the pooled standard deviation
of one visit's drift-corrected log latency around its subnet's mean (what a label of k visits divides
by sqrt(k)), overall and for subnets above 1.5 ms, and the seconds the run took per visit. ``cost``
= variance x seconds per visit: the label variance per second of profiling spent on a subnet (lower
is better), relative to the first variant.

    python benchmarks/protocol_noise.py [-n 40] [--visits 3] [--cycles 2] [--variants 8x1 16x0 ...] [--no-busy]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from record import Table, save

from hwnas import devices
from hwnas.core import presets
from hwnas.devices.host import cpu_model
from hwnas.pipelines.profile import profile_space
from hwnas.profiling.labels import drift_corrected
from hwnas.profiling.store import LatencyStore

LARGE_MS = 1.5


def visit_sd(df: pd.DataFrame) -> tuple[float, float]:
    """Pooled within-subnet standard deviation of log(corrected visit): all subnets, and above LARGE_MS."""
    d = drift_corrected(df).assign(lc=lambda x: np.log(x["latency_ms"]))
    g = d.groupby("key")["lc"]
    dev2, n = g.apply(lambda v: ((v - v.mean()) ** 2).sum()), g.size()
    big = np.exp(g.mean()) > LARGE_MS

    def pooled(mask: pd.Series) -> float:
        dof = (n[mask] - 1).sum()
        return float(np.sqrt(dev2[mask].sum() / dof)) if dof > 0 else float("nan")

    return pooled(n > 0), pooled(big)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=40)
    ap.add_argument("--space", default=presets.DEFAULT_SPACE)
    ap.add_argument("--visits", type=int, default=3)
    ap.add_argument("--cycles", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=["8x1", "16x0", "8x0", "16x1"])
    ap.add_argument("--no-busy", action="store_true")
    a = ap.parse_args()
    space, base = presets.get(a.space), devices.get("cpu")
    busy_note = "no busy loop" if a.no_busy else "beside a busy loop"
    print(f"{cpu_model()}, {os.cpu_count()} logical CPUs; {a.n} subnets x {a.visits} visits, {busy_note}")
    rows = []
    runs = Table(
        f"Each run: {a.n} subnets x {a.visits} visits, {busy_note}; pooled sd of one visit's corrected log latency",
        ["cycle", "variant", "visits", "s", "s per visit", "visit sd", f"above {LARGE_MS} ms"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        for c in range(a.cycles):
            for v in a.variants:
                batch, retries = (int(x) for x in v.split("x"))
                dev = dataclasses.replace(base, max_retries=retries)
                db = os.path.join(tmp, f"{v}-{c}.db")
                busy = None if a.no_busy else subprocess.Popen([sys.executable, "-c", "while True: pass"])
                try:
                    t0 = time.perf_counter()
                    profile_space(space, dev, a.n, db, retest=0, visits=a.visits, batch=batch)
                    took = time.perf_counter() - t0
                finally:
                    if busy is not None:
                        busy.kill()
                        busy.wait()
                with LatencyStore(db, read_only=True) as st:
                    df = st.to_dataframe()
                df = df[df["status"] == "ok"]
                sd_all, sd_big = visit_sd(df)
                r = {"variant": v, "visits": len(df), "s_per_visit": took / len(df), "sd": sd_all, "sd_big": sd_big}
                rows.append(r)
                print(
                    f"  cycle {c + 1} {v:>5}: {r['visits']} visits in {took:.0f} s ({r['s_per_visit']:.2f} s each); "
                    f"visit sd {100 * sd_all:.2f} %, above {LARGE_MS} ms {100 * sd_big:.2f} %",
                    flush=True,
                )
                runs.add(
                    c + 1,
                    v,
                    r["visits"],
                    f"{took:.0f}",
                    f"{r['s_per_visit']:.2f}",
                    f"{100 * sd_all:.2f} %",
                    f"{100 * sd_big:.2f} %",
                )
    t = pd.DataFrame(rows)
    per = t.groupby("variant", sort=False).agg(
        s_per_visit=("s_per_visit", "mean"),
        sd=("sd", lambda x: float(np.sqrt((x**2).mean()))),
        sd_big=("sd_big", lambda x: float(np.sqrt((x**2).mean()))),
    )
    per["cost"] = per["sd"] ** 2 * per["s_per_visit"]
    per["cost_big"] = per["sd_big"] ** 2 * per["s_per_visit"]
    per[["cost", "cost_big"]] /= per[["cost", "cost_big"]].iloc[0]
    header = ["s/visit", "sd %", f"sd >{LARGE_MS} ms %", "cost", "cost big"]
    print(
        per.assign(sd=100 * per["sd"], sd_big=100 * per["sd_big"]).to_string(
            float_format=lambda x: f"{x:.2f}", header=header
        )
    )
    variants = Table(
        f"Per variant over {a.cycles} cycles (BATCHxRETRIES): seconds per visit, visit sd, and cost = variance x "
        f"seconds per visit relative to {a.variants[0]} (lower is better)",
        ["variant", *header],
    )
    for v, p in per.iterrows():
        variants.add(
            v,
            f"{p['s_per_visit']:.2f}",
            f"{100 * p['sd']:.2f}",
            f"{100 * p['sd_big']:.2f}",
            f"{p['cost']:.2f}",
            f"{p['cost_big']:.2f}",
        )
    save(__file__, [variants, runs])


if __name__ == "__main__":
    main()
