"""Fit latency predictors for a device from the latency store, compare them, save the best.

Every family (linear on MACs, ridge, random forest, gradient boosting, XGBoost, MLP, additive per-layer)
is fitted on the same training split and cross-validated there; the lowest cross-validated MAPE wins
and is refitted on all records. Prints held-out quality per family, the noise floor of the
measurements and a learning curve; saves predictors/DEVICE.json (JSON, no pickle) and a PNG of
predicted vs measured latency next to it.

examples:
  hwnas profile --device cpu -n 200 && hwnas fit --device cpu
  hwnas fit --device cpu --db other/latency.db --workdir runs/mnist
  hwnas fit --device cpu --families additive,xgboost,ridge --no-curve
  hwnas profile --device cpu -n 48 --workdir later && hwnas fit --device cpu --retest-db later/latency.db
"""

from __future__ import annotations

import argparse

from hwnas.cli.common import add_space, add_workdir, space_of, workdir
from hwnas.cli.devices_cmd import add_devices_option

HELP = "fit, compare and save a latency predictor for a device"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", required=True, metavar="DEVICE", help="device whose records to fit (e.g. cpu)")
    add_devices_option(p)
    add_space(p)
    p.add_argument("--db", metavar="FILE", help="latency store (default: latency.db in the run folder)")
    p.add_argument("--retest-db", metavar="FILE", help="a second store re-measuring some of the same "
                   "subnets (e.g. 'hwnas profile -n 48 --workdir OTHER'): adds test-retest noise to the floor")
    p.add_argument("--families", metavar="LIST", help="comma-separated families to compare (default: all)")
    p.add_argument("--seed", type=int, default=0, help="split / CV / model seed (default 0)")
    p.add_argument("--no-curve", action="store_true", help="skip the learning curve (faster)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.cli.common import print_json
    from hwnas.pipelines.fit import fit_device
    from hwnas.predictors import families as fam
    from hwnas.predictors.metrics import json_safe
    from hwnas.predictors.report import curve_table, family_table, noise_text

    space = space_of(args)
    wd = workdir(args)
    names = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
    for n in names or ():
        fam.family_class(n)
    res = fit_device(space, args.device, args.db or wd.store, wd.predictor(args.device), families=names,
                     seed=args.seed, curve=not args.no_curve, retest_db=args.retest_db)
    chosen = res.predictor.family_
    if args.json:
        print_json(json_safe({"chosen": chosen, "path": str(res.path), "plot": str(res.plot),
                    "metrics": res.predictor.metrics_, "comparison": res.comparison, "noise_floor": res.noise,
                    "learning_curve": res.curves, "smallest_n_within10_95": res.smallest_n()}))
        return 0
    print(f"{args.device} / {space.name}: {res.predictor.n_train_} measured subnets")
    print(family_table(res.comparison, res.noise))
    print(noise_text(res.noise))
    if res.curves:
        print(curve_table(res.curves))
        n95 = res.smallest_n()
        print(f"{chosen}: ±10 % accuracy reaches 95 % at "
              + (f"{n95} training samples" if n95 else "no measured training-set size"))
    m = res.predictor.metrics_
    print(f"chosen: {chosen} (held-out MAPE {m['mape']:.1%}, within ±10 % {m['within_10']:.0%}, "
          f"safety margin p95 {m['p95_rel_err']:.1%}); refitted on all {res.predictor.n_train_} records")
    print(f"saved {res.path}")
    print(f"plot  {res.plot}")
    return 0
