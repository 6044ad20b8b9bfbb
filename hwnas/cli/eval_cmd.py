"""Evaluate a subnet with the weights it inherits from a trained supernet.

The validation split is the one to compare candidates on; keep the test split for final reports.
Data defaults to what the checkpoint was trained on. With --device, the subnet is also exported in that
device's deployed form (quantized for INT8 devices, a torch.export program for torch devices), run by its
runtime on the same images, and both top-1 figures are printed side by side.

examples:
  hwnas eval --subnet max --split val --json
  hwnas eval --checkpoint hwnas-run/supernet.pt --subnet winner.yaml --split test
  hwnas eval --checkpoint supernet-tiny.pth --space autoformer-tiny --data /data/imagenet --subnet min
  hwnas eval --subnet winner.yaml --device cpu-int8               # FP32 and INT8 (static) top-1
  hwnas eval --subnet max --device cpu-int8-dynamic --json
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from hwnas.cli.common import add_space, add_subnet, add_workdir, positive_int, print_json, workdir
from hwnas.cli.devices_cmd import add_devices_option, devices_of

if TYPE_CHECKING:
    from hwnas.core.space import SearchSpace

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
    p.add_argument(
        "--device",
        metavar="DEVICE",
        default=None,
        help="also score the subnet as DEVICE deploys it (e.g. cpu-int8, cpu-int8-dynamic, cpu-torch)",
    )
    add_devices_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.core import presets
    from hwnas.pipelines.evaluate import evaluate_checkpoint

    ckpt = args.checkpoint or str(workdir(args).supernet)
    space = presets.get(args.space) if args.space else None
    if args.device:
        return _deployed(args, ckpt, space)
    r = evaluate_checkpoint(ckpt, args.subnet, args.split, data=args.data, space=space, batch_size=args.batch_size)
    if args.json:
        print_json(r)
    else:
        print(
            f"{r.key} on {r.data} {r.split} ({r.n} images): top1 {r.top1:.2f}%  top5 {r.top5:.2f}%  loss {r.loss:.4f}"
        )
    return 0


def _deployed(args: argparse.Namespace, checkpoint: str, space: SearchSpace | None) -> int:
    from hwnas.pipelines.deployed import deployed_accuracy

    device = devices_of(args).get(args.device)
    r = deployed_accuracy(space, checkpoint, args.subnet, device, data=args.data, split=args.split)
    if args.json:
        print_json(r.to_dict())
        return 0
    made = f", quantized in {r.quantize_s:.1f} s" if r.quantize_s else ""
    print(
        f"{r.key} on {r.data} {r.split} ({r.n} images): FP32 top1 {r.fp32_top1:.2f}%  "
        f"{r.device} ({r.precision}) top1 {r.deployed_top1:.2f}%  drop {r.drop:+.2f} points  "
        f"(same prediction on {r.agreement:.1f}% of images, McNemar p {r.mcnemar_p:.3g}{made})"
    )
    return 0
