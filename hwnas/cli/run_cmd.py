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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from hwnas.cli.common import add_space, add_workdir, positive_float, positive_int, seed, space_of, workdir
from hwnas.cli.devices_cmd import add_devices_option, devices_of
from hwnas.cli.train_cmd import DEFAULT_EPOCHS
from hwnas.pipelines.run import BUDGET_QUANTILE, RunOptions, RunProgress, default_budget, run_pipeline
from hwnas.present import key_values, log

if TYPE_CHECKING:
    from hwnas.pipelines.fit import FitResult
    from hwnas.pipelines.profile import ProfileSummary, Progress
    from hwnas.pipelines.search import SearchOptions, SearchReport
    from hwnas.search import GenerationStats
    from hwnas.supernet.train import EpochCallback, StepCallback, TrainResult

HELP = "the whole pipeline: train, profile, fit, search, re-measure, export"
__all__ = ["BUDGET_QUANTILE", "default_budget", "add_arguments", "run"]


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
    opts = RunOptions(
        device=args.device,
        latency_ms=args.latency_ms,
        data=args.data,
        epochs=args.epochs,
        n=args.n,
        population=args.population,
        generations=args.generations,
        subset=args.subset,
        seed=args.seed,
    )
    result = run_pipeline(workdir(args), space_of(args), opts, progress=Printed(), devices=devices_of(args))
    if result.interrupted:
        return 130
    assert result.report is not None
    if result.report.winner is None:
        return 1
    print("\n" + key_values(result.summary()))
    return 0


class Printed(RunProgress):
    """``hwnas run``'s output: headings and progress on stderr, what each step did on stdout, as the
    subcommand of the same name prints it."""

    def log(self, message: str) -> None:
        log(message)

    def profile_log(self, message: str) -> None:
        print(message)

    @contextmanager
    def training(self) -> Iterator[tuple[StepCallback | None, EpochCallback | None]]:
        from hwnas.cli import train_cmd

        on_step, on_epoch, close = train_cmd.reporter()
        try:
            yield on_step, on_epoch
        finally:
            close()

    @contextmanager
    def profiling(self, device: str) -> Iterator[Progress | None]:
        from hwnas.cli import profile_cmd

        reporter = profile_cmd.Reporter(device)
        try:
            yield reporter
        finally:
            reporter.close()

    def generations(self, opts: SearchOptions) -> Callable[[GenerationStats], None] | None:
        from hwnas.cli import search_cmd

        return search_cmd.reporter_for(opts)

    def trained(self, result: TrainResult) -> None:
        print(f"wrote {result.checkpoint} (step {result.step}/{result.total_steps}, {result.seconds:.0f}s)")

    def profiled(self, summary: ProfileSummary) -> None:
        from hwnas.cli import profile_cmd

        print(profile_cmd.render(summary))

    def fitted(self, fit: FitResult) -> None:
        from hwnas.cli import fit_cmd

        print(fit_cmd.render(fit))

    def searched(self, report: SearchReport) -> None:
        from hwnas.cli import search_cmd

        print(search_cmd.render(report))
