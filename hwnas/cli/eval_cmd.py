"""Evaluate a subnet with the weights it inherits from a trained supernet.

The validation split is the one to compare candidates on; keep the test split for final reports.
Data defaults to what the checkpoint was trained on.

examples:
  hwnas eval --subnet max --split val --json
  hwnas eval --checkpoint hwnas-run/supernet.pt --subnet winner.yaml --split test
  hwnas eval --checkpoint supernet-tiny.pth --space autoformer-tiny --data /data/imagenet --subnet min
"""

from __future__ import annotations

import argparse

from hwnas.cli.common import add_space, add_subnet, add_workdir, positive_int, print_json, workdir

HELP = "top-1 / top-5 of a subnet with inherited supernet weights"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint", metavar="CKPT", default=None, help="supernet checkpoint (default: RUN_FOLDER/supernet.pt)"
    )
    add_subnet(p)
    p.add_argument("--split", choices=("val", "test", "train"), default="val", help="split (default val)")
    p.add_argument(
        "--data", metavar="mnist|DIR", default=None, help="data set (default: the one the checkpoint was trained on)"
    )
    add_space(p, default=None)
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per batch (default 256)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.core import presets
    from hwnas.pipelines.evaluate import evaluate_checkpoint

    ckpt = args.checkpoint or str(workdir(args).supernet)
    space = presets.get(args.space) if args.space else None
    r = evaluate_checkpoint(ckpt, args.subnet, args.split, data=args.data, space=space, batch_size=args.batch_size)
    if args.json:
        print_json(r)
    else:
        print(
            f"{r.key} on {r.data} {r.split} ({r.n} images): top1 {r.top1:.2f}%  top5 {r.top5:.2f}%  loss {r.loss:.4f}"
        )
    return 0
