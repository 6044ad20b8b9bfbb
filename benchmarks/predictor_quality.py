"""Latency-predictor quality on real measurements: every family, several random 80/20 splits.

Reads the ok records of a device from a latency store (make one with
``hwnas profile --device cpu -n 200 --workdir DIR``), then for each seed: splits train / held-out,
cross-validates every family on the training split, scores it on the held-out split, and records
the family chosen by CV. Also: a learning curve (held-out ±10 % share vs training samples) averaged
over the seeds, log-latency vs milliseconds targets side by side, the noise floor, and predictions
per second (features included) on 100,000 sampled configs.

    python benchmarks/predictor_quality.py --db DIR/latency.db [--device cpu] [--seeds 5]
        [--retest-db DIR2/latency.db]

--retest-db: a second store holding some of the same subnets measured at another time
(``hwnas profile --device cpu -n 48 --workdir DIR2`` re-measures the first 48 of the same plan): their
disagreement is the test-retest noise of a label, the floor no predictor can beat on held-out labels.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
from record import Notes, Table, save

from hwnas.core import get_space
from hwnas.pipelines.fit import noise_of, read_records, records_to_xy
from hwnas.predictors import families as fam
from hwnas.predictors.features import to_batch
from hwnas.predictors.metrics import quality
from hwnas.predictors.report import noise_text, smallest_size
from hwnas.predictors.selection import compare, learning_curve, split

SHOW = ("within_10", "within_5", "mape", "p95_rel_err", "kendall_tau", "spearman_rho", "rmse_ms")


def mean_sd(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def quality_over_seeds(space, configs, y, seeds, table):  # noqa: ANN001, ANN201
    per_family: dict[str, list[dict]] = {n: [] for n in fam.names()}
    chosen_runs, chosen = [], Counter()
    for s in seeds:
        comp = compare(space, configs, y, test_frac=0.2, seed=s)
        for n, r in comp.results.items():
            per_family[n].append({**r["holdout"], "cv_mape": r["cv"]["mape"], "train_mape": r["train_mape"]})
        chosen[comp.chosen] += 1
        chosen_runs.append(comp.results[comp.chosen]["holdout"])
        print(
            f"seed {s}: chosen {comp.chosen}  held-out within10 {chosen_runs[-1]['within_10']:.3f} "
            f"mape {chosen_runs[-1]['mape']:.4f} tau {chosen_runs[-1]['kendall_tau']:.3f}",
            flush=True,
        )
        r = chosen_runs[-1]
        table.add(s, comp.chosen, f"{r['within_10']:.3f}", f"{r['mape']:.4f}", f"{r['kendall_tau']:.3f}")
    return per_family, chosen_runs, chosen


def target_comparison(space, configs, y, seeds):  # noqa: ANN001, ANN201
    """Held-out MAPE of the families that accept both targets, fitted on log-latency vs milliseconds."""
    b = to_batch(space, configs)
    out = {}
    for n in ("ridge", "random-forest", "gradient-boosting", "xgboost", "mlp", "linear-macs"):
        for t in ("log", "ms"):
            m = []
            for s in seeds:
                tr, te = split(len(y), 0.2, s)
                pred = fam.make(n, space, target=t, seed=s).fit(b.take(tr), y[tr]).predict(b.take(te))
                m.append(quality(y[te], pred)["mape"])
            out[(n, t)] = float(np.mean(m))
    return out


def prediction_rates(space, configs, y, n=100_000):  # noqa: ANN001, ANN201
    cfgs = [space.sample(np.random.default_rng(i)) for i in range(n)]
    rates = {}
    for name in fam.names():
        model = fam.make(name, space).fit(configs, y)
        model.predict(cfgs[:1000])
        t = time.perf_counter()
        model.predict(cfgs)
        rates[name] = n / (time.perf_counter() - t)
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--space", default="mnist-cpu")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--retest-db", help="a second store with some of the same subnets (test-retest)")
    ap.add_argument("-n", type=int, default=200, help="records to use (the first n by time)")
    args = ap.parse_args()
    space = get_space(args.space)
    df = read_records(args.db, args.device, space).head(args.n)
    configs, y, _ = records_to_xy(df)
    seeds = list(range(args.seeds))
    notes = Notes()
    notes.say(f"{len(y)} ok records of {args.device} / {space.name}: {y.min():.3f}-{y.max():.3f} ms")
    retest = read_records(args.retest_db, args.device, space) if args.retest_db else None
    notes.say(noise_text(noise_of(df, retest)))
    if retest is not None:  # the best any predictor can look: a second measurement of the same subnet
        both = df.merge(retest, on="key", suffixes=("", "_again"))
        q = quality(both["latency_ms"], both["latency_ms_again"])
        notes.say(f"re-measurement as a predictor ({len(both)} subnets): " + "  ".join(f"{k} {q[k]:.4f}" for k in SHOW))

    seed_table = Table(
        "Per seed: the family chosen by cross-validation and its held-out quality",
        ["seed", "chosen", "within_10", "mape", "kendall_tau"],
    )
    per_family, chosen_runs, chosen = quality_over_seeds(space, configs, y, seeds, seed_table)
    n_held = len(split(len(y), 0.2, 0)[1])
    print(
        f"\nheld-out quality per family, mean ± sd over {len(seeds)} seeds "
        f"({len(y) - n_held} train / {n_held} held out):"
    )
    metrics = ("within_10", "mape", "kendall_tau", "cv_mape", "train_mape")
    family_table = Table(
        f"Held-out quality per family, mean over {len(seeds)} seeds ({len(y) - n_held} train / {n_held} held out)",
        ["family", *metrics],
    )
    for n, runs in per_family.items():
        print(f"  {n:18s} " + "  ".join(f"{k} {np.mean([r[k] for r in runs]):.4f}" for k in metrics))
        family_table.add(n, *(f"{np.mean([r[k] for r in runs]):.4f}" for k in metrics))
    print(f"\nchosen by CV: {dict(chosen)}")
    chosen_table = Table(
        f"The family chosen by cross-validation ({', '.join(f'{k} {v}x' for k, v in chosen.items())}): "
        f"held-out quality, mean ± sd over {len(seeds)} seeds",
        ["metric", "mean ± sd"],
    )
    for k in SHOW:
        print(f"  chosen {k:13s} {mean_sd([r[k] for r in chosen_runs])}")
        chosen_table.add(k, mean_sd([r[k] for r in chosen_runs]))

    curves = [learning_curve(space, configs, y, fam.names(), seed=s, repeats=3) for s in seeds]
    print("\nlearning curve: held-out within_10 (mean over seeds) vs training samples")
    curve_table = Table(
        "Learning curve: held-out within_10 (mean over seeds) against training samples",
        ["family", "training samples: within_10", "95 % reached at n"],
    )
    for n in fam.names():
        pts = [
            {"n": p["n"], "within_10": float(np.mean([c[n][i]["within_10"] for c in curves]))}
            for i, p in enumerate(curves[0][n])
        ]
        row = "  ".join(f"{p['n']}:{p['within_10']:.3f}" for p in pts)
        print(f"  {n:18s} {row}   -> 95 % reached at n = {smallest_size(pts)}")
        curve_table.add(n, row, smallest_size(pts) or "not reached")

    print("\ntarget: held-out MAPE fitting log-latency vs milliseconds (mean over seeds)")
    target_table = Table(
        "Held-out MAPE fitting log-latency against milliseconds (mean over seeds)", ["family", "log", "ms"]
    )
    tc = target_comparison(space, configs, y, seeds)
    for n in sorted({k[0] for k in tc}):
        print(f"  {n:18s} log {tc[(n, 'log')]:.4f}   ms {tc[(n, 'ms')]:.4f}")
        target_table.add(n, f"{tc[(n, 'log')]:.4f}", f"{tc[(n, 'ms')]:.4f}")

    print("\npredictions per second (100,000 sampled configs, features included, this process):")
    rate_table = Table(
        "Predictions per second (100,000 sampled configs, features included, one process)",
        ["family", "predictions/s"],
    )
    for n, r in prediction_rates(space, configs, y).items():
        print(f"  {n:18s} {r:12,.0f}")
        rate_table.add(n, f"{r:,.0f}")
    save(__file__, [family_table, chosen_table, seed_table, curve_table, target_table, rate_table], notes)


if __name__ == "__main__":
    main()
