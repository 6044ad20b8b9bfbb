"""The whole job in one command: train the supernet, profile it on a device, fit the latency
predictor, search under a latency budget, re-measure and export the winner.

Each step does what the subcommand of the same name does, with the same run folder, so a step that
is interrupted can be resumed alone, or by running this again: a trained supernet and the stored
measurements are reused, not redone; the fit and the search are redone (they take about a minute).
Without --latency-ms the budget is the 40th percentile of the profiled subnets' latency labels (each
subnet once, at the host's typical speed), so that it binds on this machine, and is the same on a
busy day as on a quiet one.

examples:
  hwnas run                                    # bundled MNIST, mnist-cpu, cpu, ./hwnas-run
  hwnas run --latency-ms 2.5 --workdir runs/a
  hwnas run --epochs 1 -n 24 --population 6 --generations 2 --subset 100   # a one-minute smoke run
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from hwnas.cli.common import add_space, add_workdir, positive_float, positive_int, seed, space_of, workdir
from hwnas.cli.devices_cmd import add_devices_option
from hwnas.cli.train_cmd import DEFAULT_EPOCHS
from hwnas.present import key_values, log

if TYPE_CHECKING:
    import pandas as pd

    from hwnas.core.space import SearchSpace
    from hwnas.devices import Device
    from hwnas.pipelines.fit import FitResult
    from hwnas.pipelines.search import SearchReport
    from hwnas.pipelines.workdir import RunDir

HELP = "the whole pipeline: train, profile, fit, search, re-measure, export"
BUDGET_QUANTILE = 0.4


def default_budget(labels: pd.DataFrame) -> float:
    """The 40th percentile of the subnets' labels (``labels_of``; ms, 2 decimals): one figure per
    subnet, rescaled by the reference ladder like the labels the predictor learns. Not of the raw
    visits, which run high when the machine is busy and count a subnet once per visit: on one seed,
    2.03 ms on a busy day against 1.79 ms on a quiet one, where the labels gave 1.86 ms on both."""
    return round(float(labels["latency_ms"].quantile(BUDGET_QUANTILE)), 2)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_space(p)
    p.add_argument("--device", default="cpu", metavar="DEVICE", help="device to profile and search for (default cpu)")
    add_devices_option(p)
    p.add_argument(
        "--latency-ms",
        type=positive_float,
        default=None,
        metavar="MS",
        help=f"latency budget (default: the {BUDGET_QUANTILE * 100:.0f}th percentile of the measured latencies)",
    )
    p.add_argument("--data", default="mnist", metavar="mnist|DIR", help="training / validation data (default mnist)")
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=DEFAULT_EPOCHS,
        help=f"supernet training epochs (default {DEFAULT_EPOCHS})",
    )
    p.add_argument("-n", type=positive_int, default=60, metavar="N", help="subnets to profile (default 60)")
    p.add_argument("--population", type=positive_int, default=20, help="search population (default 20)")
    p.add_argument("--generations", type=positive_int, default=8, help="search generations (default 8)")
    p.add_argument(
        "--subset",
        type=positive_int,
        default=None,
        metavar="N",
        help="validation images scored per candidate (default: all)",
    )
    p.add_argument("--seed", type=seed, default=0)
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.cli import fit_cmd, profile_cmd, search_cmd
    from hwnas.devices import get
    from hwnas.pipelines.fit import fit_device, read_records
    from hwnas.profiling.labels import labels_of
    from hwnas.pipelines.profile import profile_space
    from hwnas.pipelines.search import SearchOptions, checkpoint_for, search
    from hwnas.profiling.backends import require_available

    rd = workdir(args).ensure()
    space = space_of(args)
    device = get(args.device)
    require_available(device)  # fail before training, not after
    t0, times = time.perf_counter(), {}

    t = time.perf_counter()
    if rd.supernet.is_file():
        log(f"\n== 1/4 train: reusing {rd.supernet} (delete it to retrain)")
    else:
        log(f"\n== 1/4 train: {space.name} on {args.data}, {args.epochs} epochs -> {rd.supernet}")
        _train(space, args.data, rd, args.epochs, args.seed)
    times["train"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"\n== 2/4 profile: {args.n} subnets on {device.name} -> {rd.store}")
    reporter = profile_cmd.Reporter(device.name)
    try:
        summary = profile_space(space, device, args.n, rd.store, seed=args.seed, progress=reporter)
    finally:
        reporter.close()
    print(profile_cmd.render(summary))
    if summary.interrupted:
        return 130
    times["profile"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"\n== 3/4 fit: latency predictors for {device.name} -> {rd.predictor(device.name)}")
    fit = fit_device(space, device.name, rd.store, rd.predictor(device.name), seed=args.seed)
    print(fit_cmd.render(fit))
    times["fit"] = time.perf_counter() - t

    # a subnet's label: the median of its visits at the host's typical speed, as the predictor fits
    labels = labels_of(read_records(rd.store, device.name, space))
    budget = args.latency_ms or default_budget(labels)
    t = time.perf_counter()
    log(f"\n== 4/4 search: the most accurate subnet under {budget:g} ms on {device.name}")
    opts = SearchOptions(
        budgets=[(device.name, budget)],
        data=args.data,
        subset=args.subset,
        seed=args.seed,
        settings=search_cmd.evolution_settings(args.population, args.generations),
    )
    report = search(
        rd,
        space,
        opts,
        checkpoint=checkpoint_for(rd, None, opts.objective),
        on_generation=search_cmd.reporter_for(opts),
        log=log,
    )
    print(search_cmd.render(report))
    if report.winner is None:
        return 1
    times["search + verify + export"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    measured = dict(zip(labels["key"], labels["latency_ms"]))
    print("\n" + key_values(_summary(rd, device, budget, times, report, fit, measured)))
    return 0


def _train(space: SearchSpace, data: str, rd: RunDir, epochs: int, seed: int) -> None:
    """``hwnas train`` with the default recipe, the given epochs and seed, and its progress lines."""
    from hwnas.cli import train_cmd
    from hwnas.supernet.train import TrainConfig, train_supernet

    on_step, on_epoch, close = train_cmd.reporter()
    try:
        r = train_supernet(
            space, data, rd.supernet, TrainConfig(epochs=epochs, seed=seed), on_step=on_step, on_epoch=on_epoch
        )
    finally:
        close()
    print(f"wrote {r['checkpoint']} (step {r['step']}/{r['total_steps']}, {r['seconds']:.0f}s)")


def _summary(
    rd: RunDir,
    device: Device,
    budget: float,
    times: dict[str, float],
    report: SearchReport,
    fit: FitResult,
    measured: dict[str, float],
) -> list[tuple[str, Any]]:
    w = report.winner or {}
    lat = (w.get("latency") or {}).get(device.name, {})
    rows: list[tuple[str, Any]] = [
        ("winner", w.get("key", "none")),
        ("validation top-1", _pct(w.get("val_top1"))),
        ("test top-1", _pct(w.get("test_top1"))),
        ("params / MACs", f"{w.get('params', 0) / 1e6:.3f} M / {w.get('macs', 0) / 1e6:.1f} M"),
        (f"{device.name} budget", f"{budget:.3f} ms"),
        (f"{device.name} predicted", _ms(lat.get("predicted_ms"))),
        (f"{device.name} measured", _ms(lat.get("measured_ms"))),
        (f"{device.name} at typical speed", _ms(lat.get("typical_ms"))),
        ("verification", report.verification_note),
        *((e["subnet"], _reference(e, device.name, measured)) for e in report.extremes),
        ("predictor", fit.predictor.family_),
    ]
    rows += [(f"time {k}", f"{v:.0f} s") for k, v in times.items()]
    files = report.files
    rows += [
        ("ONNX", files.get("winner_onnx", "-")),
        ("subnet YAML", files.get("winner_yaml", "-")),
        ("report", files.get("report_md", "-")),
        ("Pareto front", files.get("pareto_png", "-")),
        ("predicted vs measured", str(fit.plot or rd.predictor(device.name).with_suffix(".png"))),
    ]
    return rows


def _reference(e: dict[str, Any], device: str, measured: dict[str, float]) -> str:
    """One of the space's extremes: its accuracy, and its latency as profiled (else as predicted)."""
    ms = measured.get(e["key"])
    lat = f"{ms:.3f} ms measured" if ms is not None else f"{e['predicted_ms'][device]:.3f} ms predicted"
    return f"{e['key']}: val {_pct(e['val_top1'])}, test {_pct(e['test_top1'])}, {device} {lat}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} %"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} ms"
