"""Show a subnet's analytic size and cost, without building a model.

examples:
  hwnas inspect --space autoformer-tiny --subnet max
  hwnas inspect --space autoformer-tiny --subnet AutoFormer-T.yaml --json
"""

from __future__ import annotations

import argparse

from hwnas.cli.common import add_space, add_subnet, print_json, space_of, subnet_of
from hwnas.core.complexity import count_macs, count_params, layer_costs

HELP = "parameters and MACs of a subnet (no torch needed)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_space(p)
    add_subnet(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    space = space_of(args)
    cfg = subnet_of(space, args.subnet)
    info = {
        "space": space.name,
        "key": cfg.key(),
        "config": cfg.to_dict(),
        "in_choices": space.in_choices(cfg),
        "params": count_params(space, cfg),
        "macs": count_macs(space, cfg),
        "params_m": round(count_params(space, cfg) / 1e6, 3),
        "gmacs": round(count_macs(space, cfg) / 1e9, 4),
        "layers": [{"params": c.params, "macs": c.macs} for c in layer_costs(space, cfg)],
    }
    if args.json:
        print_json(info)
    else:
        print(f"subnet  {info['key']}  (space {space.name}{'' if info['in_choices'] else ', outside its choices'})")
        print(f"params  {info['params']:,} ({info['params_m']} M)")
        print(f"MACs    {info['macs']:,} ({info['gmacs']} G per image)")
    return 0
