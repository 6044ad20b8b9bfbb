"""Few-shot latency predictors: transfer from another (device, space) against a fit from scratch.

Leave-one-out over every (device, space) of the stores given: each in turn is the target; its labels are
split into a held-out set and a pool; from the pool, k = 5, 10, 20, 40 subnets are the training labels,
chosen actively for the transfer (hwnas.predictors.active) and at random for both (repeats). The transfer's
source is the one `hwnas fit` would use (lowest leave-one-out MAPE on the k labels among the usable
groups of this machine); from scratch is ridge (the CLI's usual winner) and the additive family, best of
the two on the held-out set (generous to from-scratch). Prints ±10 %, ±5 %, MAPE and Kendall tau per
target, k and method, and each target's latency span and store retest (the labels' own noise: the
ceiling of any predictor's figures).

usage:
  python benchmarks/few_shot.py --db few/cpu-mnist-cpu.db --db few/cpu-autoformer-tiny.db ...
  python benchmarks/few_shot.py --prepare --dry-run            # the commands that make the stores
  python benchmarks/few_shot.py --prepare --spaces mnist-cpu --devices cpu,cpu-b4 -n 40 --visits 1
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from record import Table, save

from hwnas.pipelines.fit_transfer import Group, read_groups, transfer_candidates
from hwnas.predictors import families as fam
from hwnas.predictors.active import choose
from hwnas.predictors.metrics import quality
from hwnas.predictors.transfer import cost_terms
from hwnas.present import text_table

SPACES = ("mnist-cpu", "autoformer-tiny", "autoformer-small")
DEVICES = ("cpu", "cpu-mt", "cpu-b4", "cpu-int8", "cpu-int8-dynamic")
BUDGETS = (5, 10, 20, 40)
DEVICES_FILE = '[devices.cpu-b4]\nbase = "cpu"\nbatch_size = 4\n'


def prepare(args: argparse.Namespace) -> list[list[str]]:
    """One `hwnas profile` per (device, space), each into its own store under --out."""
    out = Path(args.out)
    cmds = []
    for space in args.spaces.split(","):
        for device in args.devices.split(","):
            cmd = ["hwnas", "profile", "--devices", str(out / "devices.toml"), "--device", device, "--space", space]
            cmd += ["-n", str(args.n), "--db", str(out / f"{device}-{space}.db"), "--workdir", str(out)]
            cmds.append(cmd + (["--visits", str(args.visits)] if args.visits else []))
    if not args.dry_run:
        out.mkdir(parents=True, exist_ok=True)
        (out / "devices.toml").write_text(DEVICES_FILE)
    for cmd in cmds:
        print(shlex.join(cmd), flush=True)
        if not args.dry_run:
            subprocess.run(cmd, check=True)
    return cmds


def scratch(target: Group, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    cfg = target.configs
    best: dict[str, float] | None = None
    for name in ("ridge", "additive"):
        m = fam.make(name, target.space).fit([cfg[i] for i in train], target.latency_ms[train])
        q = quality(target.latency_ms[test], m.predict([cfg[i] for i in test]))
        best = q if best is None or q["mape"] < best["mape"] else best
    assert best is not None
    return best


def transferred(target: Group, sources: list[Group], train: np.ndarray, test: np.ndarray) -> tuple[dict, str]:
    few = Group(target.origin, target.device, target.space, target.host_id, target.machine,
                [target.configs[i] for i in train], target.latency_ms[train])  # fmt: skip
    cands = transfer_candidates(few, sources, False, [])
    if not cands:
        return {}, "-"
    X = cost_terms(target.space, target.configs)
    pred = cands[0].adapted.predict(X[test])
    return quality(target.latency_ms[test], pred), cands[0].source.name


def evaluate(target: Group, groups: list[Group], holdout: int, repeats: int, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    n = len(target.configs)
    test = np.sort(rng.choice(n, size=min(holdout, n // 2), replace=False))
    pool = np.setdiff1d(np.arange(n), test)
    rows = []
    for k in (b for b in BUDGETS if b <= len(pool)):
        results: dict[str, list[dict]] = {"scratch random": [], "transfer random": [], "transfer active": []}
        source = "-"
        for _ in range(repeats):
            train = rng.choice(pool, size=k, replace=False)
            results["scratch random"].append(scratch(target, train, test))
            q, source = transferred(target, groups, train, test)
            results["transfer random"].append(q)
        # active: the closest source's prior as `hwnas profile -n auto` would start, on the pool
        cands = transfer_candidates(_subset(target, pool[:5]), groups, False, [])
        if cands:
            picks = choose(cands[0].prior, target.space, [target.configs[i] for i in pool], k)
            q, source = transferred(target, groups, pool[picks], test)
            results["transfer active"].append(q)
        for method, qs in results.items():
            qs = [q for q in qs if q]
            if qs:
                m = {key: float(np.nanmean([q[key] for q in qs])) for key in qs[0]}
                rows.append([target.name, source if "transfer" in method else "-", str(k), method,
                             f"{m['within_10']:.0%}", f"{m['within_5']:.0%}", f"{m['mape']:.1%}",
                             f"{m['kendall_tau']:.3f}"])  # fmt: skip
    return rows


def _subset(target: Group, idx: np.ndarray) -> Group:
    return Group(target.origin, target.device, target.space, target.host_id, target.machine,
                 [target.configs[i] for i in idx], target.latency_ms[idx])  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", action="append", default=[], help="a latency store (repeatable)")
    p.add_argument("--prepare", action="store_true", help="profile the stores the benchmark needs")
    p.add_argument("--dry-run", action="store_true", help="with --prepare: print the commands only")
    p.add_argument("--spaces", default=",".join(SPACES))
    p.add_argument("--devices", default=",".join(DEVICES))
    p.add_argument("-n", type=int, default=80, help="--prepare: subnets per store (40 held out + 40 budget)")
    p.add_argument("--visits", type=int, default=0, help="--prepare: visits per subnet (default: hwnas's)")
    p.add_argument("--out", default="few-shot", help="--prepare: folder of the stores")
    p.add_argument("--holdout", type=int, default=40, help="held-out subnets per target (at most half)")
    p.add_argument("--repeats", type=int, default=5, help="random draws per budget")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.prepare:
        prepare(args)
        return 0
    if not args.db:
        p.error("give stores with --db (make them with --prepare)")
    skipped: list[str] = []
    groups = [g for path in args.db for g in _groups(path, skipped)]
    for line in skipped:
        print(line, file=sys.stderr)
    rows, notes = [], list(skipped)
    for target in groups:
        span = target.latency_ms.max() / target.latency_ms.min()
        notes.append(f"target {target.describe()}: latencies span {span:.2f}x; {_retest(target)}")
        print(notes[-1], file=sys.stderr, flush=True)
        rows += evaluate(target, groups, args.holdout, args.repeats, args.seed)
    head = ["target", "source", "k", "method", "±10%", "±5%", "MAPE", "tau"]
    print(text_table(head, rows, right=True))
    title = (
        f"Held-out quality per target, k training labels and method ({args.holdout} held out at most, "
        f"{args.repeats} random draws per k)"
    )
    save(__file__, [Table(title, head, rows)], notes)
    return 0


def _retest(target: Group) -> str:
    """The target store's own retest (its first two visits, ladder-corrected): no predictor beats it."""
    from hwnas.profiling.labels import retest_noise_of
    from hwnas.profiling.store import LatencyStore

    with LatencyStore(target.origin) as store:
        df = store.to_dataframe(device=target.device, space_digest=target.space.digest(), host_id=target.host_id)
    r = retest_noise_of(df[df["status"] == "ok"])
    if r["median"] is None:
        return "no retest (one visit each)"
    return f"store retest median {r['median']:.1%}, p90 {r['p90']:.1%} ({r['subnets']} subnets)"


def _groups(path: str, skipped: list[str]) -> list[Group]:
    from hwnas.core import presets

    any_space = presets.get("mnist-cpu")  # groups of every preset space are read; the target digest is unused
    return read_groups(path, any_space, skipped)


if __name__ == "__main__":
    sys.exit(main())
