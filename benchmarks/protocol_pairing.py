"""Which per-visit statistic survives interference: the same subnets measured in several visits seconds
apart, compared between visits (|a - b| / mean(a, b), median and worst over subnets and visit pairs).

One batch of N subnets of a space (default mnist-cpu) plus the space's smallest subnet as reference is
exported and loaded once; each visit then times R interleaved rounds (``cpu`` device: one thread,
thread CPU time), every subnet block right after a block of the reference. Per visit and subnet:

* ``p10``: 10th percentile of all runs (the protocol before pairing);
* ``p10 / batch ref``: that divided by the reference's p10 over the whole visit (fit-time drift correction);
* ``paired ratio``: median over rounds of block p10 / the adjacent reference block's p10.

Visits alternate quiet and with a busy-loop process (``--busy``), optionally pinned to one core (``--pin``).

    python benchmarks/protocol_pairing.py [-n 10] [--visits 4] [--gap 10] [--rounds 10] [--busy] [--pin]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from record import Notes, Table, save

from hwnas.core import presets
from hwnas.devices import get
from hwnas.devices.host import cpu_model
from hwnas.pipelines.exporter import Exporter
from hwnas.profiling import sampling
from hwnas.profiling.backends import open_runner
from hwnas.profiling.protocol import block_runs, warm_up


def visit(runners: dict, ref, sizes: dict, ref_size: int, rounds: int, rng) -> dict[str, tuple[float, float, float]]:
    blocks: dict[str, list[list[float]]] = {k: [] for k in runners}
    refs: dict[str, list[list[float]]] = {k: [] for k in runners}
    keys = list(runners)
    for _ in range(rounds):
        for i in rng.permutation(len(keys)):
            k = keys[i]
            refs[k].append(ref.time_runs(ref_size))
            blocks[k].append(runners[k].time_runs(sizes[k]))
    all_ref = np.concatenate([np.concatenate(v) for v in refs.values()])
    ref_p10 = float(np.percentile(all_ref, 10))
    out = {}
    for k in keys:
        p10 = float(np.percentile(np.concatenate(blocks[k]), 10))
        ratios = [np.percentile(b, 10) / np.percentile(r, 10) for b, r in zip(blocks[k], refs[k])]
        out[k] = (p10, p10 / ref_p10, float(np.median(ratios)))
    return out


def curve_disagreement(x: dict, y: dict, refs: list[str]) -> list[float]:
    """Visit y rescaled to visit x by the slowdown curve of several references (slowdown interpolated
    over log latency: under contention a bigger subnet slows down more than the smallest one)."""
    lx = np.log([x[r][0] for r in refs])
    sl = np.log([y[r][0] / x[r][0] for r in refs])
    order = np.argsort(lx)
    out = []
    for k in x:
        if k in refs:
            continue
        s = np.exp(np.interp(np.log(x[k][0]), lx[order], sl[order]))
        a, b = x[k][0], y[k][0] / s
        out.append(abs(a - b) / ((a + b) / 2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--space", default=presets.DEFAULT_SPACE)
    ap.add_argument("--visits", type=int, default=4)
    ap.add_argument("--gap", type=float, default=10.0, help="seconds between visits")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--busy", action="store_true", help="a busy-loop process during every second visit")
    ap.add_argument("--pin", action="store_true", help="pin this process to one core")
    a = ap.parse_args()
    if a.pin:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    space, device = presets.get(a.space), get("cpu")
    cfgs = sampling.plan(space, a.n, 0)
    rng = np.random.default_rng(0)
    print(f"{cpu_model()}; load average {os.getloadavg()[0]:.2f}; pinned {a.pin}", flush=True)
    notes = Notes()
    with tempfile.TemporaryDirectory() as tmp:
        ex = Exporter(space)
        runners = {c.key(): open_runner(device, ex.export(c, Path(tmp) / f"{i}.onnx")) for i, c in enumerate(cfgs)}
        ref = open_runner(device, ex.export(space.min_config(), Path(tmp) / "ref.onnx"))
        sizes = {k: block_runs(warm_up(r, device)[1], device) for k, r in runners.items()}
        ref_size = block_runs(warm_up(ref, device)[1], device)
        figures = []
        for v in range(a.visits):
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if a.busy and v % 2 else None
            try:
                t0 = time.perf_counter()
                figures.append(visit(runners, ref, sizes, ref_size, a.rounds, rng))
                notes.say(
                    f"visit {v}{' (busy loop)' if busy else ''}: {time.perf_counter() - t0:.1f} s, "
                    f"load {os.getloadavg()[0]:.2f}"
                )
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            if v < a.visits - 1:
                time.sleep(a.gap)
    order = sorted(figures[0], key=lambda k: figures[0][k][0])
    table = Table(
        f"Disagreement between visits, |a - b| / mean(a, b), over {len(figures[0])} subnets and every pair of "
        f"{a.visits} visits ({a.rounds} rounds each, {a.gap:g} s apart)",
        ["statistic", "median", "p90", "worst"],
    )
    for m in (2, 3, 5):
        refs = [order[round(j * (len(order) - 1) / (m - 1))] for j in range(m)]
        d = [v for x, y in itertools.combinations(figures, 2) for v in curve_disagreement(x, y, refs)]
        print(
            f"  {f'{m}-ref curve':<16} median {100 * np.median(d):5.2f} %   p90 {100 * np.percentile(d, 90):5.2f} %"
            f"   worst {100 * max(d):5.2f} %"
        )
        table.add(
            f"{m}-ref curve",
            f"{100 * np.median(d):.2f} %",
            f"{100 * np.percentile(d, 90):.2f} %",
            f"{100 * max(d):.2f} %",
        )
    for i, name in enumerate(("p10", "p10 / batch ref", "paired ratio")):
        d = []
        for x, y in itertools.combinations(figures, 2):
            d += [abs(x[k][i] - y[k][i]) / ((x[k][i] + y[k][i]) / 2) for k in x]
        d = np.asarray(d)
        pairs = []
        for (u, x), (w, y) in itertools.combinations(enumerate(figures), 2):
            r = np.array([x[k][i] / y[k][i] for k in x])
            pairs.append(f"{u}-{w}: shift {100 * (np.median(r) - 1):+.1f} % spread {100 * np.std(np.log(r)):.1f} %")
        notes.say(f"  {name}: " + "; ".join(pairs))
        print(
            f"  {name:<16} median {100 * np.median(d):5.2f} %   p90 {100 * np.percentile(d, 90):5.2f} %"
            f"   worst {100 * d.max():5.2f} %"
        )
        table.add(name, f"{100 * np.median(d):.2f} %", f"{100 * np.percentile(d, 90):.2f} %", f"{100 * d.max():.2f} %")
    save(__file__, [table], notes)


if __name__ == "__main__":
    main()
