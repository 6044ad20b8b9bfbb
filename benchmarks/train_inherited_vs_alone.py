"""AutoFormer's claim on the bundled data: subnets with weights inherited from the supernet score as
well as the same subnets trained alone.

Trains the supernet with hwnas's default recipe (what `hwnas run` trains), then the smallest, a middle
and the largest subnet each alone with the *same* recipe, batches and number of steps (strategy
'single': the same training code with one subnet every step). All are scored on the 500 TEST images,
paired: the gap's 95 % interval and the exact McNemar p-value say whether it is more than noise.
Also: Kendall tau between MACs and inherited validation top-1 over random subnets.

  python benchmarks/train_inherited_vs_alone.py                  # the quick start's length
  python benchmarks/train_inherited_vs_alone.py --scale 3        # 3x as many epochs
  python benchmarks/train_inherited_vs_alone.py --supernet hwnas-run/supernet.pt --tau 50
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
from record import Notes, Table, save
from scipy.stats import kendalltau

from hwnas.core import presets
from hwnas.core.complexity import count_macs
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices.host import cpu_model
from hwnas.pipelines.fitness import InheritedAccuracy
from hwnas.search.significance import mcnemar_p, paired_difference, wilson_interval
from hwnas.supernet.checkpoint import safe_load
from hwnas.supernet.train import TrainConfig, train_supernet


def middle(space: SearchSpace) -> SubnetConfig:
    mid = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    d = mid(space.depth)
    return SubnetConfig(mid(space.embed_dim), d, (mid(space.mlp_ratio),) * d, (mid(space.num_heads),) * d)


def train(space: SearchSpace, path: Path, cfg: TrainConfig) -> float:
    t0 = time.perf_counter()
    train_supernet(space, "mnist", path, cfg, overwrite=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="mnist-cpu")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="the quick start's length (default)")
    ap.add_argument("--scale", type=float, default=1.0, help="train --scale x --epochs epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--supernet", help="score this supernet checkpoint instead of training one")
    ap.add_argument("--only", default="min,mid,max", help="subnets trained alone (default min,mid,max)")
    ap.add_argument("--reuse", action="store_true", help="reuse subnets already trained alone in --out")
    ap.add_argument("--tau", type=int, default=50, help="random subnets for Kendall tau (0: skip)")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "hwnas-bench-train"))
    args = ap.parse_args()
    space, out = presets.get(args.space), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = max(1, round(args.epochs * args.scale))
    recipe = TrainConfig(epochs=epochs, seed=args.seed, threads=args.threads)
    print(f"CPU: {cpu_model()} ({platform.machine()}), torch {torch.__version__}, {epochs} epochs", flush=True)

    sup = Path(args.supernet) if args.supernet else out / f"supernet-e{epochs}-s{args.seed}.pt"
    sup_s = None if args.supernet else train(space, sup, recipe)
    ckpt = safe_load(sup)
    recipe = TrainConfig(**{**ckpt["train"]["config"], "threads": args.threads})
    report = {
        "cpu": cpu_model(),
        "space": space.name,
        "recipe": ckpt["train"]["config"],
        "steps": ckpt["train"]["step"],
        "supernet_seconds": sup_s,
        "rows": [],
    }
    named = {"min": space.min_config(), "mid": middle(space), "max": space.max_config()}
    alone: dict[str, tuple[Path, float | None]] = {}
    for name in args.only.split(","):
        cfg, path = named[name], out / f"alone-{name}-e{epochs}-s{args.seed}.pt"
        solo = TrainConfig(
            **{**ckpt["train"]["config"], "strategy": "single", "subnet": cfg.key(), "threads": args.threads}
        )
        reuse = args.reuse and path.is_file()
        alone[name] = (path, None if reuse else train(space, path, solo))

    ckpt = safe_load(sup)  # read again: the supernet may have been training beside these runs
    inherited = InheritedAccuracy(space, sup)
    report["steps"] = ckpt["train"]["step"]
    table = Table(
        f"Test top-1 (500 images, paired), inherited from the supernet against trained alone "
        f"({report['steps']} steps, {epochs} epochs)",
        ["subnet", "config", "inherited", "alone", "alone - inherited (95 % CI)", "McNemar p"],
    )
    notes = Notes()
    for name, (path, secs) in alone.items():
        cfg = named[name]
        a, b = inherited.hits(cfg, "test"), InheritedAccuracy(space, path).hits(cfg, "test")
        d, lo, hi = paired_difference(b, a)
        row = {
            "subnet": name,
            "key": cfg.key(),
            "inherited_top1": 100 * a.mean(),
            "inherited_ci": wilson_interval(a),
            "alone_top1": 100 * b.mean(),
            "alone_ci": wilson_interval(b),
            "gap": d,
            "gap_ci": (lo, hi),
            "mcnemar_p": mcnemar_p(a, b),
            "alone_seconds": secs,
        }
        report["rows"].append(row)
        print(
            f"{name:4s} {cfg.key():40s} inherited {row['inherited_top1']:5.1f} %  alone {row['alone_top1']:5.1f} %  "
            f"gap {d:+.1f} ({lo:+.1f} to {hi:+.1f}), McNemar p {row['mcnemar_p']:.3f}",
            flush=True,
        )
        table.add(
            name,
            cfg.key(),
            f"{row['inherited_top1']:.1f} %",
            f"{row['alone_top1']:.1f} %",
            f"{d:+.1f} ({lo:+.1f} to {hi:+.1f})",
            f"{row['mcnemar_p']:.3f}",
        )

    if args.tau:
        rng = np.random.default_rng(args.seed)
        cfgs = space.sample_unique(args.tau, rng)
        macs = [count_macs(space, c) for c in cfgs]
        top1 = [inherited.top1(c, "val") for c in cfgs]
        tau, p = kendalltau(macs, top1)
        report["tau"] = {"n": len(cfgs), "kendall_tau": tau, "p": p, "val_top1_range": (min(top1), max(top1))}
        notes.say(
            f"Kendall tau(MACs, inherited val top-1) over {len(cfgs)} random subnets: {tau:.3f} (p {p:.3g}); "
            f"val top-1 {min(top1):.1f}-{max(top1):.1f} %"
        )
    print(json.dumps(report, indent=2, default=float))
    save(__file__, [table], notes, data=report)


if __name__ == "__main__":
    main()
