"""Fit latency predictors for a device from the latency store, compare them, save the best.

Every family (linear on MACs, ridge, random forest, gradient boosting, XGBoost, MLP, additive per-layer)
is fitted on the same training split and cross-validated there; the lowest cross-validated MAPE wins
and is refitted on all records. Prints held-out quality per family, the noise floor of the
measurements, the store's own test-retest disagreement (subnets measured in two visits) beside every
held-out metric, and a learning curve. A store holding one device's measurements from two hosts is
refused, naming them: choose one with --host; saves predictors/DEVICE.json (JSON, no pickle) and a PNG of
predicted vs measured latency next to it.

With fewer than 20 measured subnets of the device and space, it transfers instead: the layer-level cost
model of another (device, space) measured on this machine (any store of the run folder, or --from FILE) is
adapted to the few labels held, from the source that predicts them best by leave-one-out; the report names
the source, both label counts and the cross-validated figures. A source measured on another machine, or
whose layers differ from the target space's, is skipped with one line.

examples:
  hwnas profile --device cpu -n 200 && hwnas fit --device cpu
  hwnas fit --device cpu --db other/latency.db --workdir runs/mnist
  hwnas fit --device cpu --families additive,xgboost,ridge --no-curve
  hwnas fit --device cpu --host 3f2a9c      # the store holds measurements of device cpu from two hosts
  hwnas profile --device cpu -n 48 --workdir later && hwnas fit --device cpu --retest-db later/latency.db
  hwnas profile --device cpu --space autoformer-tiny -n auto && hwnas fit --device cpu --space autoformer-tiny
  hwnas fit --device cpu-int8 --from other/latency.db   # 8 INT8 labels here, a cpu store there
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hwnas.cli.common import add_space, add_workdir, print_json, seed, space_of, workdir
from hwnas.cli.devices_cmd import add_devices_option

if TYPE_CHECKING:
    import pandas as pd

    from hwnas.core.space import SearchSpace
    from hwnas.pipelines.fit import FitResult
    from hwnas.pipelines.workdir import RunDir

HELP = "fit, compare and save a latency predictor for a device"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", required=True, metavar="DEVICE", help="device whose records to fit (e.g. cpu)")
    add_devices_option(p)
    add_space(p)
    p.add_argument("--db", metavar="FILE", help="latency store (default: latency.db in the run folder)")
    p.add_argument(
        "--retest-db",
        metavar="FILE",
        help="a second store re-measuring some of the same "
        "subnets (e.g. 'hwnas profile -n 48 --workdir OTHER'): adds test-retest noise to the floor",
    )
    p.add_argument("--host", metavar="ID", help="host id (or a prefix) when the store holds several for the device")
    p.add_argument("--families", metavar="LIST", help="comma-separated families to compare (default: all)")
    p.add_argument("--seed", type=seed, default=0, help="split / CV / model seed (default 0)")
    p.add_argument("--no-curve", action="store_true", help="skip the learning curve (faster)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        default=[],
        metavar="FILE",
        help="another latency store to transfer from when the device has too few labels (repeatable)",
    )
    p.add_argument("--any-host", action="store_true", help="allow a transfer source measured on another machine")
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.pipelines.fit import fit_device
    from hwnas.predictors import families as fam

    space = space_of(args)
    wd = workdir(args)
    names = [f.strip() for f in args.families.split(",") if f.strip()] if args.families else None
    for n in names or ():
        fam.family_class(n)
    few = _too_few(space, args, wd)
    if few is not None:
        return _transfer(space, args, wd, few)
    res = fit_device(
        space,
        args.device,
        args.db or wd.store,
        wd.predictor(args.device),
        families=names,
        seed=args.seed,
        curve=not args.no_curve,
        retest_db=args.retest_db,
        host=args.host,
    )
    if args.json:
        print_json(res)
    else:
        print(render(res))
    return 0


def _too_few(space: SearchSpace, args: argparse.Namespace, wd: RunDir) -> pd.DataFrame | None:
    """The target's records when they are too few for a fit from scratch (None: enough)."""
    import pandas as pd

    from hwnas.pipelines.fit import MIN_RECORDS, read_records

    db = Path(args.db or wd.store)
    if not db.is_file() and not args.sources:
        return None  # the fit says what to measure
    df = read_records(db, args.device, space, args.host) if db.is_file() else pd.DataFrame()
    return df if (df["key"].nunique() if len(df) else 0) < MIN_RECORDS else None


def _transfer(space: SearchSpace, args: argparse.Namespace, wd: RunDir, df: pd.DataFrame) -> int:
    from hwnas.core.publish import check_writable
    from hwnas.pipelines.fit_transfer import render as render_transfer
    from hwnas.pipelines.fit_transfer import stores_of, transfer_device

    db = Path(args.db or wd.store)
    stores = stores_of(db, wd.root, args.sources)
    out = wd.predictor(args.device)
    check_writable(out.parent)
    res = transfer_device(space, args.device, df, db, stores, out, any_host=args.any_host, seed=args.seed)
    print_json(res) if args.json else print(render_transfer(res))
    return 0


def render(res: FitResult) -> str:
    """The fit for people: families compared, the noise floor, the learning curve, the choice."""
    from hwnas.predictors.report import curve_table, family_table, noise_text, retest_text

    pred, chosen = res.predictor, res.predictor.family_
    lines = [
        f"{pred.device} / {pred.space.name}: {pred.n_train_} measured subnets",
        *(f"note: {n}" for n in res.notes),
        family_table(res.comparison, res.noise),
        retest_text(res.noise.get("retest_store")),
        noise_text(res.noise),
    ]
    if res.curves:
        n95 = res.smallest_n()
        lines += [
            curve_table(res.curves),
            f"{chosen}: ±10 % accuracy reaches 95 % at "
            + (f"{n95} training samples" if n95 else "no measured training-set size"),
        ]
    m = pred.metrics_
    from hwnas.search.constraints import noise_aware_margin

    rt = res.noise.get("retest_store") or {}
    beside = f" (retest median {rt['median']:.1%})" if rt.get("median") is not None else " (no retest in the store)"
    lines += [
        f"chosen: {chosen} (held-out MAPE {m['mape']:.1%}{beside}, within ±10 % {m['within_10']:.0%}, "
        f"p95 error {m['p95_rel_err']:.1%}; search margin {noise_aware_margin(m):.1%}); "
        f"refitted on all {pred.n_train_} subnets",
        f"saved {res.path}",
        f"plot  {res.plot}",
    ]
    return "\n".join(lines)
