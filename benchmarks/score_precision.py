"""bf16 against fp32 accuracy scores: how much faster, and how much they differ. The search scores every
candidate with inherited weights; ``--precision auto`` does it in bf16 autocast where the CPU computes
bfloat16 natively. This measures what that buys and what it changes, side by side in one process.

1. Scores: N random subnets (plus the smallest and the largest), each scored on the validation and test
   images in fp32 and in bf16, alternating the order per subnet. Prints the time per candidate of each and
   their ratio, the images whose prediction changed, the top-1 differences, and Kendall tau between
   the two precisions' validation figures.
2. With --run RUN (a run folder with supernet.pt and a cpu predictor): the search itself, once per
   precision, with no re-measuring and no export (into copies of the folder). Prints each winner, its
   figures in both precisions, and the search times.

  python benchmarks/score_precision.py --supernet hwnas-run/supernet.pt -n 40
  python benchmarks/score_precision.py --supernet hwnas-run/supernet.pt -n 40 --run hwnas-run --latency-ms 1.85
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from record import Notes, Table, save
from scipy.stats import kendalltau

from hwnas.devices.host import cpu_model, native_bf16
from hwnas.pipelines.fitness import InheritedAccuracy
from hwnas.pipelines.search import SearchOptions, search
from hwnas.pipelines.search_inputs import evolution_settings
from hwnas.pipelines.workdir import RunDir
from hwnas.search import EvolutionSettings
from hwnas.supernet.checkpoint import safe_load
from hwnas.supernet.resolve import resolve_space

PRECISIONS = ("fp32", "bf16")


def compare_scores(ckpt: Path, n: int, seed: int, notes: Notes) -> list[Table]:
    space = resolve_space(None, None, ckpt)
    assert space is not None
    scorers = {p: InheritedAccuracy(space, ckpt, precision=p) for p in PRECISIONS}
    cfgs = [space.min_config(), space.max_config(), *space.sample_unique(n, np.random.default_rng(seed))]
    seconds = dict.fromkeys(PRECISIONS, 0.0)
    hits: dict[str, dict[str, list[np.ndarray]]] = {p: {"val": [], "test": []} for p in PRECISIONS}
    for p, s in scorers.items():  # load the splits and warm up the kernels outside the timing
        s.images("val"), s.images("test")
        InheritedAccuracy(space, ckpt, precision=p).hits(space.min_config(), "val")
    for i, cfg in enumerate(cfgs):
        for p in PRECISIONS if i % 2 == 0 else PRECISIONS[::-1]:
            t = time.perf_counter()
            for split in ("val", "test"):
                hits[p][split].append(scorers[p].hits(cfg, split))
            seconds[p] += time.perf_counter() - t
    per = {p: 1000 * seconds[p] / (2 * len(cfgs)) for p in PRECISIONS}
    notes.say(f"{len(cfgs)} subnets x (500 val + 500 test images) per precision")
    ratio = per["fp32"] / per["bf16"]
    notes.say(f"ms per candidate and split: fp32 {per['fp32']:.0f}, bf16 {per['bf16']:.0f}; fp32 / bf16 = {ratio:.2f}x")
    changes = Table(
        f"bf16 against fp32 scores of the same {len(cfgs)} subnets",
        ["split", "images changed per subnet, mean", "max", "top-1 bf16 - fp32, mean", "|max|"],
    )
    for split in ("val", "test"):
        a, b = np.array(hits["fp32"][split]), np.array(hits["bf16"][split])
        flips = (a != b).sum(axis=1)
        diff = 100 * (b.mean(axis=1) - a.mean(axis=1))
        print(
            f"{split}: images whose prediction changed per subnet: mean {flips.mean():.2f}, max {flips.max()} "
            f"(of {a.shape[1]}); top-1 bf16 - fp32: mean {diff.mean():+.3f}, |max| {np.abs(diff).max():.2f} points"
        )
        changes.add(
            split,
            f"{flips.mean():.2f}",
            f"{flips.max()} of {a.shape[1]}",
            f"{diff.mean():+.3f}",
            f"{np.abs(diff).max():.2f} points",
        )
    va, vb = [100 * np.array(hits[p]["val"]).mean(axis=1) for p in PRECISIONS]
    tau, _ = kendalltau(va, vb)
    notes.say(f"Kendall tau between fp32 and bf16 validation top-1 over the {len(cfgs)} subnets: {tau:.3f}")
    ends = Table("The smallest and the largest subnet in both precisions", ["subnet", "val fp32 / bf16", "test"])
    for name, i in (("smallest", 0), ("largest", 1)):
        print(
            f"{name}: val {va[i]:.1f} / {vb[i]:.1f} %, test "
            f"{100 * hits['fp32']['test'][i].mean():.1f} / {100 * hits['bf16']['test'][i].mean():.1f} % (fp32 / bf16)"
        )
        ends.add(
            name,
            f"{va[i]:.1f} / {vb[i]:.1f} %",
            f"{100 * hits['fp32']['test'][i].mean():.1f} / {100 * hits['bf16']['test'][i].mean():.1f} %",
        )
    return [changes, ends]


def compare_searches(ckpt: Path, run: Path, latency_ms: float, settings: EvolutionSettings, notes: Notes) -> Table:
    space = resolve_space(None, None, ckpt)
    assert space is not None
    fp32 = InheritedAccuracy(space, ckpt, precision="fp32")
    bf16 = InheritedAccuracy(space, ckpt, precision="bf16")
    times = {}
    table = Table(
        f"The search under {latency_ms:g} ms on cpu, once per precision of its scores (no re-measuring, no export); "
        "the winner's figures in fp32 / bf16",
        ["scores", "winner", "candidates", "search s", "val", "test"],
    )
    for p in PRECISIONS:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "run"
            shutil.copytree(run / "predictors", copy / "predictors")
            opts = SearchOptions(
                budgets=[("cpu", latency_ms)],
                settings=settings,
                measure=False,
                export=False,
                precision=p,
            )
            t = time.perf_counter()
            report = search(RunDir(copy), space, opts, checkpoint=ckpt, log=lambda _: None)
            times[p] = time.perf_counter() - t
        w = report.winner
        assert w is not None
        wc = w.config
        print(
            f"search with {p} scores: winner {w.key}, {report.evaluated} candidates, {times[p]:.1f} s; "
            f"val {fp32.top1(wc, 'val'):.1f} / {bf16.top1(wc, 'val'):.1f} %, "
            f"test {fp32.top1(wc, 'test'):.1f} / {bf16.top1(wc, 'test'):.1f} % (fp32 / bf16)"
        )
        table.add(
            p,
            w.key,
            report.evaluated,
            f"{times[p]:.1f}",
            f"{fp32.top1(wc, 'val'):.1f} / {bf16.top1(wc, 'val'):.1f} %",
            f"{fp32.top1(wc, 'test'):.1f} / {bf16.top1(wc, 'test'):.1f} %",
        )
    notes.say(f"search time fp32 / bf16 = {times['fp32'] / times['bf16']:.2f}x")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--supernet", required=True, help="supernet checkpoint")
    ap.add_argument("-n", type=int, default=40, help="random subnets scored in both precisions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", help="run folder with a cpu predictor: also compare whole searches")
    ap.add_argument("--latency-ms", type=float, default=1.85, help="the searches' cpu budget")
    ap.add_argument("--population", type=int, default=20, help="as hwnas run (default 20)")
    ap.add_argument("--generations", type=int, default=8, help="as hwnas run (default 8)")
    args = ap.parse_args()
    ckpt = Path(args.supernet)
    trained = safe_load(ckpt)["train"]["config"].get("precision")
    notes = Notes()
    notes.say(
        f"CPU: {cpu_model()} ({platform.machine()}), native bf16: {native_bf16()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; supernet trained in {trained}"
    )
    tables = compare_scores(ckpt, args.n, args.seed, notes)
    if args.run:
        settings = evolution_settings(args.population, args.generations)
        tables.append(compare_searches(ckpt, Path(args.run), args.latency_ms, settings, notes))
    save(__file__, tables, notes)


if __name__ == "__main__":
    main()
