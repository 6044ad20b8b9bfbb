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
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hwnas.core import get_space
from hwnas.core.complexity import params_macs, to_batch
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices.host import cpu_model
from hwnas.pipelines.fit import read_records
from hwnas.pipelines.search import InheritedAccuracy, SearchOptions, load_budgets
from hwnas.pipelines.workdir import RunDir
from hwnas.search import Constraints, EvolutionSettings, run_search

SPACE, DEVICE = "mnist-cpu", "cpu"
RULES = ("raw", "pooled", "biggest")
RIDGE = 1.0  # on standardised features: keeps the model steady when the search's population is narrow
MIN_CANDIDATES = 20  # fewer, and the model is not worth trusting: every estimate is the plain top-1


@dataclass(frozen=True)
class PooledAccuracy:
    """Per candidate (in the order given): observed and pooled top-1, the model's expectation, and the
    weight of the candidate's own hits; ``spread`` is the estimated true spread around the model."""

    keys: list[str]
    observed: np.ndarray  # top-1 %, own hits
    expected: np.ndarray  # top-1 %, the accuracy model's
    pooled: np.ndarray  # top-1 %, the estimate
    weight: np.ndarray  # 0..1, the share of the candidate's own hits in its estimate
    noise: np.ndarray  # points, one candidate's standard error against the others
    spread: float  # points
    pooled_in: bool  # False when there were too few candidates to fit a model

    def of(self, key: str) -> dict[str, float]:
        i = self.keys.index(key)
        return {
            "observed": float(self.observed[i]),
            "expected": float(self.expected[i]),
            "pooled": float(self.pooled[i]),
            "weight": float(self.weight[i]),
        }


def architecture_features(space: SearchSpace, configs: Sequence[SubnetConfig]) -> np.ndarray:
    """(n, 6): log params, log MACs, depth, embedding dim, mean MLP ratio, mean heads."""
    params, macs = params_macs(space, to_batch(space, configs))
    return np.column_stack(
        [
            np.log(np.asarray(params, dtype=float)),
            np.log(np.asarray(macs, dtype=float)),
            [c.depth for c in configs],
            [c.embed_dim for c in configs],
            [float(np.mean(c.mlp_ratio)) for c in configs],
            [float(np.mean(c.num_heads)) for c in configs],
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


def pool(keys: Sequence[str], hits: np.ndarray, features: np.ndarray, ridge: float = RIDGE) -> PooledAccuracy:
    """Pooled top-1 of ``len(keys)`` candidates from their hit matrix (candidates x images, all on the
    same images) and architecture features (candidates x features)."""
    h = np.asarray(hits, dtype=float)
    if h.ndim != 2 or h.shape[0] != len(keys) or len(features) != len(keys):
        raise ValueError("one row of hits and of features per candidate, all on the same images")
    k, n = h.shape
    observed = 100.0 * h.mean(axis=1)
    consensus = h.mean(axis=0)
    noise = 100.0 * np.sqrt((h - consensus).var(axis=1) / n)
    if k < MIN_CANDIDATES:
        ones = np.ones(k)
        return PooledAccuracy(list(keys), observed, observed.copy(), observed.copy(), ones, noise, float("nan"), False)
    expected, dof = _ridge_fit(np.asarray(features, dtype=float), observed, ridge)
    resid_var = float(((observed - expected) ** 2).sum() / max(k - dof, 1.0))
    spread2 = max(resid_var - float((noise**2).mean()), 0.0)
    weight = spread2 / (spread2 + noise**2) if spread2 > 0 else np.zeros(k)
    weight = np.where(noise > 0, weight, 1.0)  # a candidate identical to the consensus carries no noise
    pooled = weight * observed + (1.0 - weight) * expected
    return PooledAccuracy(list(keys), observed, expected, pooled, weight, noise, float(np.sqrt(spread2)), True)


def picks(result, scorer: InheritedAccuracy) -> tuple[dict, object]:  # noqa: ANN001
    cands = result.candidates
    cost = [tuple(c.latency_ms.values()) for c in cands]
    hits = np.stack([scorer.hits(c.config, "val") for c in cands])
    est = pool([c.key for c in cands], hits, architecture_features(scorer.space, [c.config for c in cands]))
    best = {
        "raw": result.ranked()[0],
        "pooled": cands[min(range(len(cands)), key=lambda i: (-est.pooled[i], cost[i]))],
        "biggest": max(cands, key=lambda c: c.macs),
    }
    return best, est


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
                best, est = picks(result, scorer)
                row = {"run": path, "q": q, "budget": budget, "seed": seed, "spread": est.spread}
                for rule, c in best.items():
                    row[rule] = {
                        "key": c.key,
                        "ms": c.latency_ms[DEVICE],
                        "val": scorer.top1(c.config, "val"),
                        "pooled": est.of(c.key)["pooled"],
                        "test": scorer.top1(c.config, "test"),
                    }
                rows.append(row)
                print(
                    f"{path} q{q:g} {budget:.2f} ms seed {seed} (spread {est.spread:.2f} pt, "
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
    print(f"\nover {len(rows)} cases (CPU: {cpu_model()}):")
    for rule in RULES:
        tests = [r[rule]["test"] for r in rows]
        m, h = mean_ci(tests)
        share = sum(t >= 95.0 for t in tests) / len(tests)
        use = statistics.median(r[rule]["ms"] / r["budget"] for r in rows)
        line = f"  {rule:8s} mean test {m:.2f} % (+-{h:.2f}), >= 95 %: {share:.0%}, median budget use {use:.2f}"
        if rule != "raw":
            d, dh = mean_ci([r[rule]["test"] - r["raw"]["test"] for r in rows])
            line += f", vs raw {d:+.2f} (+-{dh:.2f}) points"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
