"""Export a subnet to ONNX as a static model holding only its weights.

Weights: --checkpoint, else (without --space) the run folder's trained supernet if there is one, else (or with
--random-weights) the supernet's seeded random initial ones, enough for latency work.
With --subnet omitted, the winner of the last search in the run folder is exported.

examples:
  hwnas export --space autoformer-tiny --subnet AutoFormer-T.yaml --out t.onnx
  hwnas export --space autoformer-tiny --subnet max --checkpoint supernet-tiny.pth --out t.onnx
  hwnas export --subnet min --checkpoint hwnas-run/supernet.pt --dynamic-batch --out min.onnx
  hwnas export                                  # the last search winner, with the run folder's weights
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.cli.common import add_space, add_workdir, positive_int, workdir
from hwnas.core.errors import ConfigError

HELP = "export a subnet (with supernet weights) to ONNX"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_space(p, default=None)
    p.add_argument(
        "--subnet",
        metavar="SUBNET",
        help="RETRAIN YAML, 'max' or 'min' (default: the last search winner in the run folder)",
    )
    p.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="hwnas or AutoFormer supernet checkpoint (default: the run folder's, if any)",
    )
    p.add_argument("--random-weights", action="store_true", help="ignore the run folder's checkpoint")
    p.add_argument("--out", metavar="FILE", help="ONNX file to write (default: next to the subnet YAML)")
    p.add_argument("--batch-size", type=positive_int, default=1, help="static batch size (default 1)")
    p.add_argument("--dynamic-batch", action="store_true", help="make the batch axis dynamic")
    p.add_argument("--opset", type=positive_int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--fp16", action="store_true", help="export FP16 weights and activations")
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.pipelines.export import export_subnet

    rd, subnet = workdir(args), args.subnet
    checkpoint = args.checkpoint
    if checkpoint is None and args.space is None and not args.random_weights and rd.supernet.is_file():
        checkpoint = str(rd.supernet)
    if subnet is None:
        subnet = str(rd.search / "winner.yaml")
        if not Path(subnet).is_file():
            raise ConfigError(
                f"no --subnet given and no search winner at {subnet} (run 'hwnas search' first, or pass --subnet)"
            )
    out = args.out or (str(Path(subnet).with_suffix(".onnx")) if subnet not in ("max", "min") else f"{subnet}.onnx")
    r = export_subnet(
        subnet,
        out,
        space=args.space,
        checkpoint=checkpoint,
        batch_size=args.batch_size,
        dynamic_batch=args.dynamic_batch,
        opset=args.opset,
        fp16=args.fp16,
    )
    print(
        f"wrote {r.path}  ({r.key}, {r.params:,} params, weights: {checkpoint or 'random'}, "
        f"max |onnxruntime - torch| = {r.max_abs_diff:.2e})"
    )
    return 0
