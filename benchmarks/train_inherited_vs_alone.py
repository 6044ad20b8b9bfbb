"""AutoFormer's claim on the bundled data: subnets with weights inherited from the supernet score about
as well as the same subnets trained alone.

For the smallest, a middle and the largest subnet of the space: top-1 on the TEST split with
inherited weights vs the same architecture (a freshly initialised Supernet's extract(cfg), a plain
StaticViT) trained alone with the same recipe (AdamW, same lr schedule, label smoothing, same batches)
for as many optimizer steps as the whole supernet run took -- the generous reading of "the steps it
saw": under uniform sampling any one subnet is drawn in only a small fraction of them.
Also: the sandwich rule vs uniform sampling, and wall time per epoch.

  python benchmarks/train_inherited_vs_alone.py                      # trains everything (long)
  python benchmarks/train_inherited_vs_alone.py --supernet u.pt --sandwich-epochs 2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from hwnas.core import presets
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.data import ResumableSampler, batches, load_split
from hwnas.supernet.checkpoint import load_supernet, safe_load
from hwnas.supernet.distill import classification_loss
from hwnas.supernet.evaluate import evaluate
from hwnas.supernet.supernet import NO_WEIGHT_DECAY, Supernet
from hwnas.supernet.train import TrainConfig, lr_at, train_supernet


def middle(space: SearchSpace) -> SubnetConfig:
    mid = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    d = mid(space.depth)
    return SubnetConfig(mid(space.embed_dim), d, (mid(space.mlp_ratio),) * d, (mid(space.num_heads),) * d)


def train_alone(space: SearchSpace, cfg: SubnetConfig, steps: int, rc: TrainConfig, spe: int) -> tuple[torch.nn.Module, float]:
    """The subnet as a plain module, trained ``steps`` steps with the supernet's recipe and batches."""
    torch.manual_seed(rc.seed)
    net = Supernet(space).extract(cfg).train()
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (no_decay if p.ndim <= 1 or any(k in name for k in NO_WEIGHT_DECAY) else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": rc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=rc.peak_lr(1))
    train = load_split("mnist", "train", space)
    sampler = ResumableSampler(train, seed=rc.seed)
    warmup, peak, step, t0 = round(rc.warmup_epochs * spe), rc.peak_lr(1), 0, time.perf_counter()
    while step < steps:
        sampler.set_position(step // spe)
        for x, y in batches(train, sampler, rc.batch_size, drop_last=True):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, steps, warmup, peak, rc.min_lr)
            opt.zero_grad(set_to_none=True)
            classification_loss(net(x), y, rc.label_smoothing).backward()
            opt.step()
            step += 1
            if step >= steps:
                break
    return net, time.perf_counter() - t0


def test_top1(net: torch.nn.Module, cfg: SubnetConfig | None, test) -> float:
    return round(evaluate(net, cfg, batches(test, None, 250))["top1"], 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="mnist-cpu")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--supernet", help="reuse this uniform-trained checkpoint instead of training one")
    ap.add_argument("--sandwich-epochs", type=int, default=None, help="default: --epochs; 0 skips sandwich")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "hwnas-bench-train"))
    args = ap.parse_args()
    space = presets.get(args.space)
    subnets = {"min": space.min_config(), "mid": middle(space), "max": space.max_config()}
    test = load_split("mnist", "test", space)
    report: dict = {"space": space.name, "threads": args.threads or torch.get_num_threads(), "rows": []}

    path = args.supernet or f"{args.out}/uniform.pt"
    if not args.supernet:
        train_supernet(space, "mnist", path, TrainConfig(epochs=args.epochs, threads=args.threads), overwrite=True)
    ckpt = safe_load(path)
    rc = TrainConfig(**{**ckpt["train"]["config"], "threads": args.threads})
    steps, spe = ckpt["train"]["step"], ckpt["train"]["steps_per_epoch"]
    epoch_s = [h["train_seconds"] for h in ckpt["history"]]
    report["uniform"] = {"epochs": len(epoch_s), "steps": steps, "batch": rc.batch_size,
                         "sec_per_epoch": round(sum(epoch_s) / len(epoch_s), 1)}
    torch.set_num_threads(args.threads or torch.get_num_threads())
    net, _ = load_supernet(path)
    for name, cfg in subnets.items():
        inherited = test_top1(net, cfg, test)
        alone, secs = train_alone(space, cfg, steps, rc, spe)
        row = {"subnet": name, "key": cfg.key(), "inherited_top1": inherited, "alone_top1": test_top1(alone, None, test),
               "alone_steps": steps, "alone_seconds": round(secs, 1)}
        row["gap"] = round(row["alone_top1"] - inherited, 2)
        report["rows"].append(row)
        print(json.dumps(row), flush=True)

    sw_epochs = args.epochs if args.sandwich_epochs is None else args.sandwich_epochs
    if sw_epochs:
        sw = f"{args.out}/sandwich.pt"
        r = train_supernet(space, "mnist", sw, TrainConfig(**{**ckpt["train"]["config"], "strategy": "sandwich",
                                                            "epochs": sw_epochs, "threads": args.threads}), overwrite=True)
        swnet, _ = load_supernet(sw)
        report["sandwich"] = {"epochs": sw_epochs, "sec_per_epoch": round(sum(h["train_seconds"] for h in r["history"]) / sw_epochs, 1),
                              **{f"{n}_top1": test_top1(swnet, c, test) for n, c in subnets.items()}}
        uni = ckpt["history"][sw_epochs - 1] if len(ckpt["history"]) >= sw_epochs else None
        report["uniform_at_same_epochs_val"] = uni
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
