"""Which rule picks the winner that really scores best? Raw validation top-1 against a pooled
(empirical-Bayes) estimate, judged on the test split that neither rule sees.

The pooled estimate: each candidate's validation hits shrunk toward what a ridge model of top-1 on a
few architecture features (log params, log MACs, depth, embed dim, mean MLP ratio, mean heads),
fitted over every candidate the search scored, expects of it. The weight of a candidate's own hits is
spread^2 / (spread^2 + noise^2): noise is the variance of its hits around the per-image consensus of
all candidates over the number of images (what separates candidates, not the larger noise of an
absolute top-1); spread is the residual variance around the model minus the mean noise (method of
moments). The idea: when the space saturates, the best of a few hundred top-1 figures on 500 images
is partly the luckiest draw (the winner's curse), and pooling believes a figure only as far as the
noise allows. Measured here it did not pay (see the README), so the search keeps raw top-1.

For every run folder given (a trained supernet and a fitted cpu predictor, e.g. what ``hwnas run``
leaves), every budget (quantiles of the folder's own latency labels; 0.4 is ``hwnas run``'s) and every
search seed, the search runs as ``hwnas run`` runs it (population 20, 8 generations, all 500
validation images); then from the same scored candidates the benchmark picks
- ``raw``: the highest validation top-1 (today's rule; ties to the faster);
- ``pooled``: the highest pooled estimate;
- ``biggest``: the most MACs among the candidates (a size-only baseline);
and scores each pick on the test split. Prints every case and, over all cases, each rule's mean test
top-1, its share of winners at 95 % or more, and the paired difference to ``raw`` with a 95 % interval.

usage:
  python benchmarks/winner_selection.py RUN [RUN ...] [--quantiles 0.25,0.4,0.6] [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Sequence

import numpy as np
from record import Table, save

from hwnas.core import get_space
from hwnas.devices.host import cpu_model
from hwnas.pipelines.fit import read_records
from hwnas.pipelines.search import InheritedAccuracy, SearchOptions, load_budgets
from hwnas.pipelines.workdir import RunDir
from hwnas.search import Candidate, Constraints, EvolutionSettings, SearchResult, run_search

SPACE, DEVICE = "mnist-cpu", "cpu"
RULES = ("raw", "pooled", "biggest")
RIDGE = 1.0  # on standardised features: keeps the model steady when the search's population is narrow
MIN_CANDIDATES = 20  # fewer, and the model is not worth trusting: every estimate is the plain top-1


def architecture_features(cands: Sequence[Candidate]) -> np.ndarray:
    """(n, 6): log params, log MACs, depth, embedding dim, mean MLP ratio, mean heads."""
    return np.array(
        [
            [
                np.log(c.params),
                np.log(c.macs),
                c.config.depth,
                c.config.embed_dim,
                np.mean(c.config.mlp_ratio),
                np.mean(c.config.num_heads),
            ]
            for c in cands
        ]
    )


def _ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Fitted values and the effective number of parameters (trace of the hat matrix)."""
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    z = np.column_stack([np.ones(len(z)), z])
    penalty = alpha * np.eye(z.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    inv = np.linalg.inv(z.T @ z + penalty)
    hat_trace = float(np.trace(z @ inv @ z.T))
    return z @ (inv @ (z.T @ y)), hat_trace


def pool(hits: np.ndarray, features: np.ndarray, ridge: float = RIDGE) -> tuple[np.ndarray, float]:
    """Pooled top-1 (%) per candidate from the hit matrix (candidates x images, all on the same images)
    and architecture features (candidates x features), and the estimated true spread around the model
    (points; NaN when there are too few candidates to fit one, and the plain top-1 is returned)."""
    h = np.asarray(hits, dtype=float)
    k, n = h.shape
    observed = 100.0 * h.mean(axis=1)
    noise2 = 1e4 * (h - h.mean(axis=0)).var(axis=1) / n  # against the per-image consensus
    if k < MIN_CANDIDATES:
        return observed, float("nan")
    expected, dof = _ridge_fit(features, observed, ridge)
    resid_var = float(((observed - expected) ** 2).sum() / max(k - dof, 1.0))
    spread2 = max(resid_var - float(noise2.mean()), 0.0)
    # a candidate identical to the consensus carries no noise: its own hits decide
    weight = np.where(noise2 > 0, spread2 / np.where(spread2 + noise2 > 0, spread2 + noise2, 1.0), 1.0)
    return weight * observed + (1.0 - weight) * expected, float(np.sqrt(spread2))


def picks(result: SearchResult, scorer: InheritedAccuracy) -> tuple[dict[str, Candidate], dict[str, float], float]:
    """Each rule's pick, the pooled estimate per key, and the estimated spread."""
    cands = result.candidates
    hits = np.stack([scorer.hits(c.config, "val") for c in cands])
    pooled, spread = pool(hits, architecture_features(cands))
    by_key = {c.key: float(v) for c, v in zip(cands, pooled)}
    best = {
        "raw": result.ranked()[0],
        "pooled": min(cands, key=lambda c: (-by_key[c.key], tuple(c.latency_ms.values()))),
        "biggest": max(cands, key=lambda c: c.macs),
    }
    return best, by_key, spread


def mean_ci(xs: list[float]) -> tuple[float, float]:
    m = statistics.fmean(xs)
    half = 1.96 * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return m, half


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders (supernet.pt, a cpu predictor and its store)")
    ap.add_argument("--quantiles", default="0.25,0.4,0.6", help="budgets as quantiles of the folder's labels")
    ap.add_argument("--seeds", default="0,1", help="search seeds")
    ap.add_argument("--population", type=int, default=20)
    ap.add_argument("--generations", type=int, default=8)
    a = ap.parse_args()
    space = get_space(SPACE)
    quantiles = [float(q) for q in a.quantiles.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    n = a.population
    settings = EvolutionSettings(
        population=n, generations=a.generations, parents=max(2, n // 5), mutations=n // 2, crossovers=n // 2
    )
    print(f"CPU: {cpu_model()}; {len(a.runs)} run folders x {len(quantiles)} budgets x {len(seeds)} seeds", flush=True)
    rows = []
    cases = Table(
        "Every case: each rule's pick (latency ms, validation top-1, pooled estimate, test top-1)",
        ["run", "quantile", "budget ms", "seed", "spread pt", "rule", "pick", "ms", "val", "pooled", "test"],
    )
    t0 = time.perf_counter()
    for path in a.runs:
        run = RunDir.resolve(path)
        scorer = InheritedAccuracy(space, run.supernet)
        labels = read_records(run.store, DEVICE, space)["latency_ms"]
        for q in quantiles:
            budget = round(float(labels.quantile(q)), 2)
            budgets, _ = load_budgets(run, space, SearchOptions(budgets=[(DEVICE, budget)]))
            constraints = Constraints(space, budgets)
            for seed in seeds:
                result = run_search(space, scorer.fitness("val"), constraints, settings=settings, seed=seed)
                best, pooled, spread = picks(result, scorer)
                row = {"run": path, "q": q, "budget": budget, "seed": seed, "spread": spread}
                for rule, c in best.items():
                    row[rule] = {
                        "key": c.key,
                        "ms": c.latency_ms[DEVICE],
                        "val": scorer.top1(c.config, "val"),
                        "pooled": pooled[c.key],
                        "test": scorer.top1(c.config, "test"),
                    }
                rows.append(row)
                print(
                    f"{path} q{q:g} {budget:.2f} ms seed {seed} (spread {spread:.2f} pt, "
                    f"{len(result.candidates)} scored, {time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
                for rule in RULES:
                    r = row[rule]
                    print(
                        f"   {rule:8s} {r['key']:42s} {r['ms']:.2f} ms  val {r['val']:.1f}  pooled "
                        f"{r['pooled']:.2f}  test {r['test']:.1f}",
                        flush=True,
                    )
                    cases.add(
                        path,
                        f"{q:g}",
                        f"{budget:.2f}",
                        seed,
                        f"{spread:.2f}",
                        rule,
                        r["key"],
                        f"{r['ms']:.2f}",
                        f"{r['val']:.1f}",
                        f"{r['pooled']:.2f}",
                        f"{r['test']:.1f}",
                    )
    print(f"\nover {len(rows)} cases (CPU: {cpu_model()}):")
    summary = Table(
        f"Each rule over {len(rows)} cases: mean test top-1 (95 % interval), share of picks at 95 % or more, "
        "median use of the budget, and the paired difference to raw",
        ["rule", "mean test", ">= 95 %", "median budget use", "vs raw (points)"],
    )
    for rule in RULES:
        tests = [r[rule]["test"] for r in rows]
        m, h = mean_ci(tests)
        share = sum(t >= 95.0 for t in tests) / len(tests)
        use = statistics.median(r[rule]["ms"] / r["budget"] for r in rows)
        line = f"  {rule:8s} mean test {m:.2f} % (+-{h:.2f}), >= 95 %: {share:.0%}, median budget use {use:.2f}"
        vs_raw = "-"
        if rule != "raw":
            d, dh = mean_ci([r[rule]["test"] - r["raw"]["test"] for r in rows])
            line += f", vs raw {d:+.2f} (+-{dh:.2f}) points"
            vs_raw = f"{d:+.2f} (+-{dh:.2f})"
        print(line)
        summary.add(rule, f"{m:.2f} % (+-{h:.2f})", f"{share:.0%}", f"{use:.2f}", vs_raw)
    save(__file__, [summary, cases])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
