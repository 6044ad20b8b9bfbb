"""Would a ladder with shape rungs correct busy batches better? A test of the idea before it is built.

Labels divide each visit by the slowdown its batch's reference ladder shows at the subnet's latency
(:mod:`hwnas.profiling.ladder`). The ladder's five rungs are balanced shapes (every dimension at the same
quantile), and the worst retest disagreements under load come from wide-shallow and narrow-deep
subnets. This measures, in one run, the five rungs, two shape rungs (wide-shallow e192-d4 and
narrow-deep e96-d8, mid MLP ratio and heads) and held-out subnets (fixed off-diagonal shapes and random
ones), all in every batch, in batches that alternate quiet and beside a busy loop (`while True: pass`).
For each busy batch and its paired quiet batch, each held-out subnet's busy / quiet ratio is compared
with what three corrections predict from the rungs of the same two batches:

- none: 1;
- ladder: the five rungs' slowdown interpolated over log latency (what labels use today);
- ladder + shape: the same, plus |z| times the shape rung's own residual on its side, where
  z = (embed quantile) - (depth quantile) in [-1, 1] (+1 wide-shallow, -1 narrow-deep, 0 balanced).

Prints each correction's error |ratio / predicted - 1| (median, p90, worst) over the off-diagonal and the
random held-out subnets, and per held-out subnet its mean signed residual under the ladder.

  python benchmarks/ladder_shapes.py --batches 12 -n 8
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from record import Table, save

from hwnas.core import presets
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices import get as get_device
from hwnas.devices.host import cpu_model
from hwnas.pipelines.exporter import Exporter
from hwnas.profiling.backends import open_runner
from hwnas.profiling.ladder import ladder, slowdown
from hwnas.profiling.protocol import Measurement, measure_batch


def uniform(e: int, d: int, m: float, h: int) -> SubnetConfig:
    return SubnetConfig(e, d, (float(m),) * d, (h,) * d)


def shape_z(space: SearchSpace, cfg: SubnetConfig) -> float:
    """(embed quantile) - (depth quantile): +1 widest and shallowest, -1 narrowest and deepest."""
    e, d = sorted(space.embed_dim), sorted(space.depth)
    return e.index(cfg.embed_dim) / (len(e) - 1) - d.index(cfg.depth) / (len(d) - 1)


SHAPE_RUNGS = {"wide": uniform(192, 4, 3, 3), "deep": uniform(96, 8, 3, 3)}
OFF_DIAGONAL = {
    "e192-d4-m4h4": uniform(192, 4, 4, 4),
    "e192-d4-m2h2": uniform(192, 4, 2, 2),
    "e192-d5-m3h3": uniform(192, 5, 3, 3),
    "e160-d4-m4h4": uniform(160, 4, 4, 4),
    "e96-d8-m2h2": uniform(96, 8, 2, 2),
    "e96-d8-m4h4": uniform(96, 8, 4, 4),
    "e96-d7-m3h3": uniform(96, 7, 3, 3),
    "e128-d8-m2h2": uniform(128, 8, 2, 2),
}


def predicted(
    lat: float, z: float, rungs: tuple[np.ndarray, np.ndarray], shape: dict[str, tuple[float, float, float]]
) -> tuple[float, float]:
    """(ladder, ladder + shape) slowdown at quiet latency ``lat`` and shape ``z``; ``shape`` holds per
    side (quiet ms, busy/quiet ratio, z) of that side's shape rung."""
    busy, quiet = rungs
    base = slowdown(lat, busy, quiet)
    side = shape["wide" if z > 0 else "deep"]
    residual = np.log(side[1]) - np.log(slowdown(side[0], busy, quiet))
    return base, float(base * np.exp(abs(z) / abs(side[2]) * residual))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=12, help="batches, half of them busy (default 12)")
    ap.add_argument("-n", type=int, default=8, help="random held-out subnets (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    space, device = presets.get("mnist-cpu"), get_device("cpu")
    print(f"CPU: {cpu_model()} ({platform.machine()}), device cpu, {a.batches} batches", flush=True)
    rng = np.random.default_rng(a.seed)
    rung_cfgs = {f"rung{j}": c for j, c in enumerate(ladder(space))}
    randoms = {c.key(): c for c in space.sample_unique(a.n, rng)}
    models = {**rung_cfgs, **SHAPE_RUNGS, **OFF_DIAGONAL, **randoms}
    exporter = Exporter(space)
    with tempfile.TemporaryDirectory() as tmp:
        runners = {
            k: open_runner(device, exporter.export(c, Path(tmp) / f"{i}.onnx"))
            for i, (k, c) in enumerate(models.items())
        }
        quiet: list[dict[str, float]] = []
        busy: list[dict[str, float]] = []
        for b in range(a.batches):
            loaded = (b % 4) in (1, 2)  # quiet, busy, busy, quiet, ...: pairs alternate which comes first
            loop = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if loaded else None
            if loop:
                time.sleep(1.0)
            try:
                got = measure_batch(runners, device, rng)
            finally:
                if loop:
                    loop.kill()
                    loop.wait()
            figures = {k: m.latency_ms for k, m in got.items() if isinstance(m, Measurement)}
            (busy if loaded else quiet).append(figures)
            r0 = figures["rung4"] / quiet[0]["rung4"] if quiet else float("nan")
            print(f"batch {b + 1}/{a.batches} {'busy ' if loaded else 'quiet'} largest rung x{r0:.3f}", flush=True)
        for r in runners.values():
            r.close()
    rung_keys = list(rung_cfgs)
    held = {"off-diagonal": list(OFF_DIAGONAL), "random": list(randoms)}
    errors: dict[str, dict[str, list[float]]] = {g: {"none": [], "ladder": [], "ladder + shape": []} for g in held}
    signed: dict[str, list[float]] = {k: [] for k in [*OFF_DIAGONAL, *randoms]}
    for q, b in zip(quiet, busy):
        rungs = (np.array([b[k] for k in rung_keys]), np.array([q[k] for k in rung_keys]))
        shape = {s: (q[s], b[s] / q[s], shape_z(space, c)) for s, c in SHAPE_RUNGS.items()}
        for group, keys in held.items():
            for k in keys:
                ratio, z = b[k] / q[k], shape_z(space, models[k])
                lad, shp = predicted(q[k], z, rungs, shape)
                for name, p in (("none", 1.0), ("ladder", lad), ("ladder + shape", shp)):
                    errors[group][name].append(abs(ratio / p - 1))
                signed[k].append(ratio / lad - 1)
    print(f"\nbusy / quiet ratio against each correction's prediction, {len(busy)} batch pairs:")
    print(f"{'held out':13} {'correction':15} {'median':>7} {'p90':>7} {'worst':>7}")
    table = Table(
        f"Error of each correction, |busy / quiet ratio / predicted - 1|, over {len(busy)} batch pairs",
        ["held out", "correction", "median", "p90", "worst"],
    )
    for group, per in errors.items():
        for name, e in per.items():
            v = 100 * np.array(e)
            print(f"{group:13} {name:15} {np.median(v):6.2f}% {np.percentile(v, 90):6.2f}% {v.max():6.2f}%")
            table.add(group, name, f"{np.median(v):.2f} %", f"{np.percentile(v, 90):.2f} %", f"{v.max():.2f} %")
    print("\nper held-out subnet: z, mean signed residual under the ladder alone")
    residuals = Table(
        "Per held-out subnet: shape z (+1 wide-shallow, -1 narrow-deep) and mean signed residual under the ladder",
        ["subnet", "z", "mean residual"],
    )
    for k, s in signed.items():
        print(f"  {k:44} z {shape_z(space, models[k]):+.2f}  {100 * np.mean(s):+6.2f}%")
        residuals.add(k, f"{shape_z(space, models[k]):+.2f}", f"{100 * np.mean(s):+.2f} %")
    save(__file__, [table, residuals])


if __name__ == "__main__":
    main()
