"""Predict a subnet's latency on a device from the predictor saved by 'hwnas fit' (no torch needed).

examples:
  hwnas predict --device cpu --subnet max
  hwnas predict --device cpu --subnet winner.yaml --json
  hwnas predict --device cpu --space mnist-cpu --subnet min --workdir runs/mnist
"""

from __future__ import annotations

import argparse

from hwnas.cli.common import add_space, add_subnet, add_workdir, print_json, space_of, subnet_of, workdir
from hwnas.cli.devices_cmd import add_devices_option

HELP = "predict a subnet's latency with a fitted predictor"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", required=True, metavar="DEVICE", help="device the predictor was fitted for")
    add_devices_option(p)
    add_subnet(p)
    add_space(p)
    p.add_argument(
        "--predictor", metavar="FILE", help="predictor JSON (default: predictors/DEVICE.json in the run folder)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.core.complexity import count_macs, count_params
    from hwnas.predictors import load_predictor

    space = space_of(args)
    cfg = subnet_of(space, args.subnet)
    pred = load_predictor(args.predictor or workdir(args).predictor(args.device), space=space, device=args.device)
    ms = pred.predict_one(cfg)
    margin = float(pred.metrics_["p95_rel_err"])
    out = {
        "latency_ms": ms,
        "p95_rel_err": margin,
        "latency_ms_p95_bound": ms * (1 + margin),
        "device": args.device,
        "space": space.name,
        "key": cfg.key(),
        "family": pred.family_,
        "params": count_params(space, cfg),
        "macs": count_macs(space, cfg),
    }
    if args.json:
        print_json(out)
    else:
        print(
            f"{cfg.key()}: {ms:.3f} ms on {args.device} (predicted by {pred.family_}; "
            f"95th-percentile error {margin:.1%} -> at most {out['latency_ms_p95_bound']:.3f} ms)"
        )
    return 0
