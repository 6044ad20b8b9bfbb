"""Does the search's winner really run within its budget? Five budgets on mnist-cpu, device cpu.

For five budgets spread over the space's predicted latency range, run ``hwnas search`` (accuracy
objective: validation top-1 with inherited weights), then re-measure the exported winner in a
fresh process with the profiling protocol, in as many visits as a label takes (three batches, each
beside the ladder; the median), independent of the predictor and of the search's own verification.
Prints the share of winners within budget (plain, and at the host's typical speed: the fresh
figures rescaled by their batches' reference ladder, as labels are), the median overshoot, the
search wall time with accuracy evaluation vs with the predictor-only objective ('params'), and the
Kendall tau between that training-free objective and inherited-weight validation accuracy on random
subnets. The predictor-only winner of each budget (the most parameters it admits, so it sits at the
budget's edge and tests the safety margin itself) is re-measured in a fresh process too, and its first
visit alone is printed beside the median; --params-only runs just those searches (a minute instead of
a quarter of an hour).

Needs a run folder with a trained supernet (supernet.pt) and a fitted cpu predictor; --prepare
makes them with the CLI (hwnas train / profile / fit) in the given folder first.

usage:
  python benchmarks/search_budgets.py --workdir RUN [--prepare] [--generations 20] [--subset 200]
  python benchmarks/search_budgets.py --workdir RUN --params-only
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from record import Notes, Table, save

from hwnas.core import count_params, get_space
from hwnas.core.yaml_io import save_subnet
from hwnas.pipelines.search import InheritedAccuracy, SearchOptions, load_budgets, params_fitness, search
from hwnas.pipelines.workdir import RunDir
from hwnas.search import Constraints, EvolutionSettings, LatencyBudget, fastest, run_search
from hwnas.search.constraints import noise_aware_margin

SPACE, DEVICE = "mnist-cpu", "cpu"

FRESH = """
import json, statistics, sys
from hwnas.core import get_space
from hwnas.core.yaml_io import load_subnet
from hwnas.profiling.labels import at_typical_speed
from hwnas.pipelines.profile import measure_visits
from hwnas.profiling.visits import VISITS
space = get_space(sys.argv[2])
recs = measure_visits(sys.argv[1], space, load_subnet(sys.argv[3]), VISITS, checkpoint=sys.argv[4], with_ladder=True)
ms = [r.latency_ms for r in recs if r.ok]
typical = [at_typical_speed(r.latency_ms, r.refs_ms, r.base_ms) for r in recs if r.ok]
typical = None if not typical or None in typical else typical
print(json.dumps({
    "latency_ms": statistics.median(ms) if len(ms) == len(recs) else None,
    "typical_ms": statistics.median(typical) if typical and len(ms) == len(recs) else None,
    "first_ms": ms[0] if ms else None,
    "first_typical_ms": typical[0] if typical else None,
    "visits_ms": ms,
    "visits_typical_ms": typical,
}))
"""


def hwnas(*args: str) -> None:
    print("$ hwnas " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "hwnas", *args], check=True)


def prepare(run: RunDir, n_profile: int, epochs: int, busy: bool = False) -> None:
    if not run.supernet.is_file():
        hwnas("train", "--space", SPACE, "--epochs", str(epochs), "--workdir", str(run.root))
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:  # a store profiled under load, if asked: the labels must still hold on the quiet machine
        hwnas("profile", "--device", DEVICE, "--space", SPACE, "-n", str(n_profile), "--workdir", str(run.root))
    finally:
        if loop is not None:
            loop.kill()
            loop.wait()
    hwnas("fit", "--device", DEVICE, "--space", SPACE, "--no-curve", "--workdir", str(run.root))


class _Negated:
    def __init__(self, pred) -> None:  # noqa: ANN001
        self.pred = pred

    def predict(self, configs):  # noqa: ANN001, ANN201
        return -np.asarray(self.pred.predict(configs))


def predicted_range(space, budget: LatencyBudget) -> tuple[float, float]:  # noqa: ANN001
    lo = fastest(space, budget)[1]
    hi = -fastest(space, LatencyBudget(DEVICE, _Negated(budget.predictor)))[1]
    return lo, hi


def fresh_measure(space_name: str, yaml_path: Path, ckpt: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", FRESH, DEVICE, space_name, str(yaml_path), str(ckpt)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def kendall_params_vs_accuracy(space, ckpt: Path, n: int, subset: int) -> dict:  # noqa: ANN001
    from scipy.stats import kendalltau

    cfgs = space.sample_unique(n, np.random.default_rng(123))
    acc_fn = InheritedAccuracy(space, ckpt).fitness("val", subset)
    acc = [acc_fn(c) for c in cfgs]
    params = [count_params(space, c) for c in cfgs]
    tau, p = kendalltau(params, acc)
    return {"n": n, "tau": float(tau), "p": float(p), "acc_min": min(acc), "acc_max": max(acc)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--prepare", action="store_true", help="train, profile and fit with the CLI first")
    ap.add_argument("--profile-n", type=int, default=150)
    ap.add_argument("--profile-busy", action="store_true", help="with --prepare: profile while a busy loop runs")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument("--population", type=int, default=50)
    ap.add_argument("--subset", type=int, default=200, help="validation images per fitness call")
    ap.add_argument("--margin", type=float, default=None, help="override the noise-aware default margin")
    ap.add_argument("--kendall-n", type=int, default=60)
    ap.add_argument(
        "--params-only", action="store_true", help="only the predictor-only searches (no accuracy objective)"
    )
    ap.add_argument(
        "--budgets",
        type=lambda t: [float(x) for x in t.split(",")],
        default=None,
        help="comma-separated budgets in ms (default: five spread over the predicted range)",
    )
    a = ap.parse_args()
    run = RunDir.resolve(a.workdir)
    if a.prepare:
        prepare(run, a.profile_n, a.epochs, a.profile_busy)
    space = get_space(SPACE)
    n = a.population
    settings = EvolutionSettings(
        population=n, generations=a.generations, parents=max(2, n // 5), mutations=n // 2, crossovers=n // 2
    )
    base = load_budgets(run, space, SearchOptions(budgets=[(DEVICE, None)]))[0][0]
    p95 = float(base.predictor.metrics_["p95_rel_err"])
    margin = noise_aware_margin(base.predictor.metrics_) if a.margin is None else a.margin
    lo, hi = predicted_range(space, base)
    top = float(base.predictor.predict([space.max_config()])[0])  # robust to a noisy predicted maximum
    first = lo / (1 - margin) * 1.1  # the smallest budget some subnet is predicted to meet with margin
    budgets = a.budgets or [round(float(b), 2) for b in np.geomspace(first, max(top, first * 1.5), 5)]
    notes = Notes()
    notes.say(
        f"predictor p95 relative error {p95:.1%}, store retest p90 "
        f"{base.predictor.metrics_.get('retest_p90') or float('nan'):.1%} (margin used {margin:.1%}); "
        f"predicted latency: fastest {lo:.3f} ms, max config {top:.3f} ms, slowest found {hi:.3f} ms; "
        f"budgets {budgets}"
    )

    rows = []
    with tempfile.TemporaryDirectory(prefix="hwnas-bench-search-") as tmp:
        for b in budgets:
            row: dict = {"budget_ms": b, "winner": None}
            w = None
            if not a.params_only:
                opts = SearchOptions(
                    budgets=[(DEVICE, b)], subset=a.subset, settings=settings, margin=a.margin, export=False
                )
                rep = search(run, space, opts, log=lambda m: print("   " + m, flush=True))
                w = rep.winner  # a Winner: its measurement on DEVICE is w.measured(DEVICE)
                row.update(
                    search_acc_s=rep.timing["search_s"],
                    evaluated=rep.evaluated,
                    fallbacks=len(rep.verification) - 1,
                    winner=w.key if w else None,
                )
            if w:
                y = Path(tmp) / f"winner-{b}.yaml"
                y.write_text(Path(rep.files["winner_yaml"]).read_text())
                fresh = fresh_measure(SPACE, y, run.supernet)
                ms, typ = fresh["latency_ms"], fresh["typical_ms"]
                row.update(
                    predicted_ms=w.latency[DEVICE].predicted_ms,
                    verify_ms=getattr(w.measured(DEVICE), "measured_ms", None),
                    fresh_ms=ms,
                    fresh_typical_ms=typ,
                    within=ms <= b,
                    typical_within=None if typ is None else typ <= b,
                    overshoot=max(0.0, ms / b - 1),
                    val_top1=w.val_top1,
                    test_top1=w.test_top1,
                )
            con = Constraints(space, [LatencyBudget(DEVICE, base.predictor, b, margin)])
            t = time.perf_counter()
            pres = run_search(space, params_fitness(space), con, settings=settings, seed=0)
            row["search_params_s"] = time.perf_counter() - t
            row["params_winner"] = pres.best.key
            # the most parameters under the budget: pushed to the budget's edge, so it tests the margin itself
            y = Path(tmp) / f"params-winner-{b}.yaml"
            save_subnet(pres.best.config, y, space)
            pf = fresh_measure(SPACE, y, run.supernet)
            row.update(
                params_predicted_ms=pres.best.latency_ms[DEVICE],
                params_fresh_ms=pf["latency_ms"],
                params_fresh_typical_ms=pf["typical_ms"],
                params_first_typical_ms=pf["first_typical_ms"],
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
    tables = []
    tau = None
    if not a.params_only:
        tau = kendall_params_vs_accuracy(space, run.supernet, a.kendall_n, a.subset)
        tables.append(report(rows, tau, margin, notes))
    tables.append(report_params(rows, margin, notes))
    save(__file__, tables, notes, data={"rows": rows, "kendall": tau, "margin": margin, "budgets": budgets})
    return 0


def report_params(rows: list[dict], margin: float, notes: Notes) -> Table:
    """The predictor-only winners (most parameters within the budget), re-measured in a fresh process."""
    print(f"\npredictor-only objective, the most parameters within the budget (margin {margin:.1%}):")
    print("budget  predicted  fresh    typical  1st visit typical  fresh/budget  typical/budget")
    table = Table(
        f"Predictor-only objective: the most parameters within the budget (margin {margin:.1%}), the winner "
        "re-measured in a fresh process (ms; typical: at the host's typical speed)",
        ["budget", "predicted", "fresh", "typical", "1st visit typical", "fresh/budget", "typical/budget"],
    )
    for r in rows:
        typ, first = r["params_fresh_typical_ms"], r["params_first_typical_ms"]
        print(
            f"{r['budget_ms']:6.2f}  {r['params_predicted_ms']:9.3f}  {r['params_fresh_ms']:7.3f}  "
            f"{typ or float('nan'):7.3f}  {first or float('nan'):17.3f}  "
            f"{r['params_fresh_ms'] / r['budget_ms']:12.2f}  "
            f"{(typ or float('nan')) / r['budget_ms']:14.2f}"
        )
        table.add(
            f"{r['budget_ms']:.2f}",
            f"{r['params_predicted_ms']:.3f}",
            f"{r['params_fresh_ms']:.3f}",
            f"{typ or float('nan'):.3f}",
            f"{first or float('nan'):.3f}",
            f"{r['params_fresh_ms'] / r['budget_ms']:.2f}",
            f"{(typ or float('nan')) / r['budget_ms']:.2f}",
        )
    fresh = [r["params_fresh_ms"] / r["budget_ms"] for r in rows]
    typ = [r["params_fresh_typical_ms"] / r["budget_ms"] for r in rows if r["params_fresh_typical_ms"]]
    first = [r["params_first_typical_ms"] / r["budget_ms"] for r in rows if r["params_first_typical_ms"]]
    notes.say(f"first visits alone at typical speed: {sum(f <= 1 for f in first)}/{len(first)} within budget")
    notes.say(
        f"within budget: plain {sum(f <= 1 for f in fresh)}/{len(rows)}, at typical speed "
        f"{sum(t <= 1 for t in typ)}/{len(typ)}; median use of the budget: plain {statistics.median(fresh):.2f}"
        + (f", at typical speed {statistics.median(typ):.2f}" if typ else "")
    )
    return table


def report(rows: list[dict], tau: dict, margin: float, notes: Notes) -> Table:
    print(
        "\nbudget  predicted  verified  fresh    typical  within  overshoot  val top-1  fallbacks  "
        "search s (acc / params)"
    )
    table = Table(
        "Accuracy objective: the winner's predicted, verified and fresh latency (ms; typical: at the host's typical "
        "speed), its validation top-1 and the search time",
        [
            "budget",
            "predicted",
            "verified",
            "fresh",
            "typical",
            "within",
            "overshoot",
            "val top-1",
            "fallbacks",
            "search s (acc / params)",
        ],
    )
    for r in rows:
        if r.get("winner") is None:
            print(f"{r['budget_ms']:6.2f}  no winner within budget after verification")
            table.add(f"{r['budget_ms']:.2f}", *["-"] * 8, "no winner within budget after verification")
            continue
        print(
            f"{r['budget_ms']:6.2f}  {r['predicted_ms']:9.3f}  {r['verify_ms']:8.3f}  {r['fresh_ms']:7.3f}  "
            f"{r['fresh_typical_ms'] or float('nan'):7.3f}  "
            f"{str(r['within']):6s}  {100 * r['overshoot']:8.1f}%  {r['val_top1']:8.2f}%  {r['fallbacks']:9d}  "
            f"{r['search_acc_s']:7.1f} / {r['search_params_s']:.2f}"
        )
        table.add(
            f"{r['budget_ms']:.2f}",
            f"{r['predicted_ms']:.3f}",
            f"{r['verify_ms']:.3f}",
            f"{r['fresh_ms']:.3f}",
            f"{r['fresh_typical_ms'] or float('nan'):.3f}",
            str(r["within"]),
            f"{100 * r['overshoot']:.1f} %",
            f"{r['val_top1']:.2f} %",
            r["fallbacks"],
            f"{r['search_acc_s']:.1f} / {r['search_params_s']:.2f}",
        )
    won = [r for r in rows if r.get("winner")]
    within = sum(r["within"] for r in won)
    print()
    notes.say(
        f"winners within budget when re-measured in a fresh process: {within}/{len(rows)} "
        f"({100 * within / len(rows):.0f} %); "
        f"median overshoot {100 * statistics.median(r['overshoot'] for r in won):.1f} %"
        f"; median measured/budget {statistics.median(r['fresh_ms'] / r['budget_ms'] for r in won):.2f}"
    )
    typ = [r for r in won if r.get("fresh_typical_ms") is not None]
    if typ:
        notes.say(
            f"at the host's typical speed (the fresh figure rescaled by its batch's ladder): "
            f"{sum(r['typical_within'] for r in typ)}/{len(rows)} within budget; median measured/budget "
            f"{statistics.median(r['fresh_typical_ms'] / r['budget_ms'] for r in typ):.2f}"
        )
    acc_s = statistics.median(r["search_acc_s"] for r in rows)
    par_s = statistics.median(r["search_params_s"] for r in rows)
    notes.say(
        f"search wall time (median): accuracy objective {acc_s:.1f} s, predictor-only objective {par_s:.2f} s "
        f"(x{acc_s / par_s:.0f})"
    )
    notes.say(
        f"training-free objective 'params' vs inherited-weight val top-1 on {tau['n']} random subnets: "
        f"Kendall tau {tau['tau']:.3f} (p={tau['p']:.2g}; top-1 {tau['acc_min']:.1f}-{tau['acc_max']:.1f} %)"
    )
    return table


if __name__ == "__main__":
    sys.exit(main())
