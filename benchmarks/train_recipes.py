"""Supernet recipes side by side: each variant trained from the same seed, then scored with inherited
weights on the smallest and largest subnet and on 24 fixed random subnets (validation + test, 1,000
images), with its training time. How the default recipe's length and ``largest_first`` were chosen.

Each variant is a name and TrainConfig overrides in JSON; a checkpoint already in --out is reused.
Run nothing else meanwhile: the variants run one after the other on all cores.

    python benchmarks/train_recipes.py \\
        'B={"epochs": 10, "largest_first": 0.3}' 'F={"epochs": 10, "largest_first": 0.45}' \\
        'G={"epochs": 12, "largest_first": 0.6}'
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from record import Table, save

from hwnas.core import presets
from hwnas.devices.host import cpu_model
from hwnas.pipelines.fitness import InheritedAccuracy
from hwnas.supernet.train import TrainConfig, train_supernet


def both_splits(scorer: InheritedAccuracy, cfg) -> float:  # noqa: ANN001
    hits = np.concatenate([scorer.hits(cfg, "val"), scorer.hits(cfg, "test")])
    return 100.0 * float(hits.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+", metavar='NAME={"epochs": 10, ...}')
    ap.add_argument("--space", default="mnist-cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--random", type=int, default=24, help="random subnets scored (fixed across variants)")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "hwnas-bench-recipes"))
    args = ap.parse_args()
    space, out = presets.get(args.space), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_model()} ({platform.machine()}), torch {torch.__version__}", flush=True)
    cfgs = space.sample_unique(args.random, np.random.default_rng(123))
    rows = []
    table = Table(
        f"Each recipe trained from seed {args.seed}: top-1 with inherited weights (validation / test), and the mean "
        f"of validation + test over {len(cfgs)} fixed random subnets",
        ["variant", "recipe", "train s", "smallest val / test", "largest val / test", "random subnets, mean"],
    )
    for spec in args.variants:
        name, _, overrides = spec.partition("=")
        recipe = TrainConfig(**{"seed": args.seed, **json.loads(overrides or "{}")})
        path = out / f"{name}.pt"
        t0 = time.perf_counter()
        if not path.is_file():
            train_supernet(space, "mnist", path, recipe, overwrite=True)
        secs = time.perf_counter() - t0
        scorer = InheritedAccuracy(space, path)
        row = {
            "variant": name,
            "recipe": overrides,
            "train_s": round(secs),
            "smallest_val": scorer.top1(space.min_config(), "val"),
            "smallest_test": scorer.top1(space.min_config(), "test"),
            "largest_val": scorer.top1(space.max_config(), "val"),
            "largest_test": scorer.top1(space.max_config(), "test"),
            "random_mean": float(np.mean([both_splits(scorer, c) for c in cfgs])),
        }
        rows.append(row)
        print(
            f"{name:>8} {overrides:40s} train {row['train_s']:4d} s  smallest val/test {row['smallest_val']:.1f}/"
            f"{row['smallest_test']:.1f}  largest {row['largest_val']:.1f}/{row['largest_test']:.1f}  "
            f"{len(cfgs)} random subnets, mean of val+test {row['random_mean']:.2f} %",
            flush=True,
        )
        table.add(
            name,
            overrides,
            row["train_s"],
            f"{row['smallest_val']:.1f} / {row['smallest_test']:.1f}",
            f"{row['largest_val']:.1f} / {row['largest_test']:.1f}",
            f"{row['random_mean']:.2f} %",
        )
    print(json.dumps(rows, indent=2))
    save(__file__, [table], data=rows)


if __name__ == "__main__":
    main()
