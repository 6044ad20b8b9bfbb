"""A predictor for a new space from a few measurements: autoformer-tiny on `cpu` from a mnist-cpu store.

Every step is the command a user types, each in its own process, into one folder (``--out``; a step whose
store exists is not redone, so a killed run resumes):

1. ``source``: ``hwnas profile --space mnist-cpu -n 60`` (the known space on this device);
2. ``fresh-a``, ``fresh-b``: ``hwnas profile --space autoformer-tiny -n 30 --seed 101``, twice, in two
   fresh processes: the held-out subnets, measured independently twice (their agreement is the ceiling
   any predictor's ranking can reach);
3. ``few``: ``hwnas profile --space autoformer-tiny -n auto --max-n 10 --from source.db`` then ``hwnas fit
   --from source.db``: the transfer from mnist-cpu with at most 10 autoformer-tiny measurements;
4. ``nothing`` (skip with ``--no-from-nothing``): ``hwnas profile --space autoformer-tiny -n auto`` in an
   empty folder (default goal: 90 % within ±5 % cross-validated; at most ``--max-n``), then ``hwnas fit``:
   the device time from nothing to a predictor.

Prints each predictor's ±5 %, ±10 %, MAPE and Kendall tau on the fresh subnets (labels of fresh-a), and
tau between fresh-a and fresh-b. Goals (issue): few-shot >= 90 % within ±5 %, MAPE <= 3 %, tau within 0.05
of fresh-a vs fresh-b; from nothing: >= 90 % within ±5 % in <= 10 min of profiling.

    python benchmarks/few_shot_new_space.py --out few-new-space [--max-n 40] [--no-from-nothing]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from record import Table, save

from hwnas.core import SubnetConfig, presets
from hwnas.devices.host import cpu_model
from hwnas.predictors import load_predictor
from hwnas.predictors.metrics import quality
from hwnas.profiling.labels import labels_of
from hwnas.profiling.store import LatencyStore

SPACE, SOURCE_SPACE, DEVICE, FRESH_SEED = "autoformer-tiny", "mnist-cpu", "cpu", 101


def hwnas(*args: str, log: Path) -> float:
    """Run one hwnas command (its output appended to ``log``); its wall time in seconds."""
    print("$ hwnas " + " ".join(args), flush=True)
    t0 = time.perf_counter()
    with log.open("a") as f:
        subprocess.run([sys.executable, "-m", "hwnas", *args], stdout=f, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - t0


def labels(db: Path) -> dict[str, float]:
    with LatencyStore(db, read_only=True) as st:
        df = st.to_dataframe(device=DEVICE)
    lab = labels_of(df[df["status"] == "ok"])
    return dict(zip(lab["key"], lab["latency_ms"]))


def profile(out: Path, name: str, *args: str, log: Path) -> float | None:
    db = out / f"{name}.db"
    if db.exists():
        print(f"{name}: {db} exists, reused", flush=True)
        return None
    return hwnas("profile", "--device", DEVICE, "--db", str(db), "--workdir", str(out / name), *args, log=log)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="few-new-space")
    ap.add_argument("--source-n", type=int, default=60)
    ap.add_argument("--fresh", type=int, default=30)
    ap.add_argument("--budget", type=int, default=10, help="autoformer-tiny measurements for the transfer")
    ap.add_argument("--max-n", type=int, default=40, help="from nothing: most subnets -n auto may measure")
    ap.add_argument("--no-from-nothing", action="store_true")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    print(f"{cpu_model()}; {SPACE} on {DEVICE}, from {SOURCE_SPACE}; nothing else should run", flush=True)
    wall: dict[str, float | None] = {}
    wall["source"] = profile(out, "source", "--space", SOURCE_SPACE, "-n", str(a.source_n), log=log)
    for name in ("fresh-a", "fresh-b"):
        wall[name] = profile(out, name, "--space", SPACE, "-n", str(a.fresh), "--seed", str(FRESH_SEED), log=log)
    source = str(out / "source.db")
    auto = ("--space", SPACE, "-n", "auto")
    wall["few"] = profile(out, "few", *auto, "--max-n", str(a.budget), "--from", source, log=log)
    fit = ("fit", "--device", DEVICE, "--space", SPACE)
    hwnas(*fit, "--db", str(out / "few.db"), "--from", source, "--workdir", str(out / "few"), log=log)
    runs = ["few"]
    if not a.no_from_nothing:
        wall["nothing"] = profile(out, "nothing", *auto, "--max-n", str(a.max_n), log=log)
        hwnas(*fit, "--db", str(out / "nothing.db"), "--workdir", str(out / "nothing"), log=log)
        runs.append("nothing")

    space = presets.get(SPACE)
    fa, fb = labels(out / "fresh-a.db"), labels(out / "fresh-b.db")
    keys = sorted(set(fa) & set(fb))
    ya, yb = np.array([fa[k] for k in keys]), np.array([fb[k] for k in keys])
    ceiling = quality(ya, yb)
    table = Table(
        f"Predictors of {SPACE} on {DEVICE} against {len(keys)} fresh subnets (labels of fresh-a)",
        ["predictor", "target labels", "profiling s", "±5%", "±10%", "MAPE", "tau", "tau gap to fresh-b"],
    )
    table.add("fresh-b (a second measurement)", "-", _s(wall["fresh-b"]), *_figures(ceiling, ceiling))
    for name in runs:
        pred = load_predictor(out / name / "predictors" / f"{DEVICE}.json", space, DEVICE)
        p = pred.predict([SubnetConfig.from_key(k) for k in keys])
        n = len(labels(out / f"{name}.db"))
        table.add(f"{name}: {pred.family_}", n, _s(wall[name]), *_figures(quality(ya, p), ceiling))
    for row in table.rows:
        print("  ".join(str(c) for c in row), flush=True)
    notes = [f"source: {SOURCE_SPACE} on {DEVICE}, {len(labels(out / 'source.db'))} subnets"]
    notes += [f"wall s of each step (None: reused): {wall}"]
    save(__file__, [table], notes)


def _s(v: float | None) -> str:
    return "reused" if v is None else f"{v:.0f}"


def _figures(q: dict, ceiling: dict) -> list[str]:
    gap = ceiling["kendall_tau"] - q["kendall_tau"]
    tau = q["kendall_tau"]
    return [f"{q['within_5']:.0%}", f"{q['within_10']:.0%}", f"{q['mape']:.2%}", f"{tau:.3f}", f"{gap:.3f}"]


if __name__ == "__main__":
    main()
