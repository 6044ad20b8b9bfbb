"""The whole job in one call: train the supernet, profile it on a device, fit the latency predictor,
search under a latency budget, re-measure and export the winner (what ``hwnas run`` does).

Each step is the pipeline of the subcommand of the same name, on one run folder, so an interrupted
step can be resumed alone or by calling this again: a trained supernet and the stored measurements are
reused, not redone; the fit and the search are redone. Without a budget it is the 40th percentile of
the profiled subnets' labels (:func:`default_budget`). How the chain reports as it goes is a
:class:`RunProgress`'s business: the default one says nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwnas.core.space import SearchSpace
from hwnas.pipelines.workdir import RunDir

if TYPE_CHECKING:
    import pandas as pd

    from hwnas.devices import Devices
    from hwnas.pipelines.fit import FitResult
    from hwnas.pipelines.profile import ProfileSummary, Progress
    from hwnas.pipelines.search import SearchOptions, SearchReport
    from hwnas.profiling.measurer import Measurer
    from hwnas.search import GenerationStats
    from hwnas.supernet.train import EpochCallback, StepCallback, TrainResult

BUDGET_QUANTILE = 0.4
STEPS = ("train", "profile", "fit", "search")  # the keys of RunResult.seconds, with "total"


def default_budget(labels: pd.DataFrame) -> float:
    """The 40th percentile of the subnets' labels (``labels_of``; ms, 2 decimals): one figure per
    subnet, rescaled by the reference ladder like the labels the predictor learns. Not of the raw
    visits, which run high when the machine is busy and count a subnet once per visit: on one seed,
    2.03 ms on a busy day against 1.79 ms on a quiet one, where the labels gave 1.86 ms on both."""
    return round(float(labels["latency_ms"].quantile(BUDGET_QUANTILE)), 2)


@dataclass(frozen=True)
class RunOptions:
    device: str = "cpu"  # profiled and searched for
    latency_ms: float | None = None  # the budget; None: default_budget of the profiled labels
    data: str = "mnist"  # the bundled set, or an image folder
    epochs: int | None = None  # supernet training epochs (None: TrainConfig's default)
    n: int = 60  # subnets profiled
    population: int = 20
    generations: int = 8
    subset: int | None = None  # validation images scored per candidate (None: all)
    seed: int = 0


class RunProgress:
    """How the chain reports as it goes; this one says nothing. Override what is to be shown."""

    def log(self, message: str) -> None:
        """A step's heading, or a note of the search."""

    def profile_log(self, message: str) -> None:
        """A note of the profiling."""

    @contextmanager
    def training(self) -> Iterator[tuple[StepCallback | None, EpochCallback | None]]:
        """The step and epoch callbacks of the training, open while it runs."""
        yield None, None

    @contextmanager
    def profiling(self, device: str) -> Iterator[Progress | None]:
        """The per-record callback of the profiling, open while it runs."""
        yield None

    def generations(self, opts: SearchOptions) -> Callable[[GenerationStats], None] | None:
        """The per-generation callback of the search."""
        return None

    def trained(self, result: TrainResult) -> None: ...

    def profiled(self, summary: ProfileSummary) -> None: ...

    def fitted(self, fit: FitResult) -> None: ...

    def searched(self, report: SearchReport) -> None: ...


@dataclass(frozen=True)
class RunResult:
    """What the chain did. ``trained`` is None when an existing supernet was reused; ``fit``, ``budget_ms``
    and ``report`` are None when the profiling was interrupted (``interrupted``)."""

    run: RunDir
    device: str
    seconds: dict[str, float]  # per step of STEPS that ran, and "total"
    trained: TrainResult | None
    profile: ProfileSummary
    fit: FitResult | None = None
    budget_ms: float | None = None
    report: SearchReport | None = None
    labels_ms: dict[str, float] | None = None  # each profiled subnet's label, as the budget is taken from

    @property
    def interrupted(self) -> bool:
        return self.report is None

    def summary(self) -> list[tuple[str, Any]]:
        """The figures ``hwnas run`` ends with: the winner, its latency, the space's extremes, the
        predictor, the time of each step, and the files."""
        assert self.report is not None and self.fit is not None, "an interrupted run has no summary"
        r, d, w = self.report, self.device, self.report.winner
        m = w.measured(d) if w else None
        lat = w.latency.get(d) if w else None
        rows: list[tuple[str, Any]] = [
            ("winner", w.key if w else "none"),
            ("validation top-1", _pct(w.val_top1 if w else None)),
            ("test top-1", _pct(w.test_top1 if w else None)),
            ("params / MACs", f"{(w.params if w else 0) / 1e6:.3f} M / {(w.macs if w else 0) / 1e6:.1f} M"),
            (f"{d} budget", f"{self.budget_ms:.3f} ms"),
            (f"{d} predicted", _ms(lat.predicted_ms if lat else None)),
            (f"{d} measured", _ms(m.measured_ms if m else None)),
            (f"{d} at typical speed", _ms(m.typical_ms if m else None)),
            ("verification", r.verification_note),
            *((e["subnet"], _reference(e, d, self.labels_ms or {})) for e in r.extremes),
            ("predictor", self.fit.predictor.family_),
        ]
        names = {"search": "search + verify + export"}
        rows += [(f"time {names.get(k, k)}", f"{v:.0f} s") for k, v in self.seconds.items()]
        rows += [
            ("ONNX", r.files.get("winner_onnx", "-")),
            ("subnet YAML", r.files.get("winner_yaml", "-")),
            ("report", r.files.get("report_md", "-")),
            ("Pareto front", r.files.get("pareto_png", "-")),
            ("predicted vs measured", str(self.fit.plot or self.run.predictor(d).with_suffix(".png"))),
        ]
        return rows


def run_pipeline(
    run: RunDir,
    space: SearchSpace,
    opts: RunOptions,
    *,
    progress: RunProgress | None = None,
    measurers: Mapping[str, Sequence[Measurer]] | None = None,
    devices: Devices | None = None,
) -> RunResult:
    """Train (unless ``run`` holds a supernet), profile, fit, then search, re-measure and export.
    ``measurers``: where each device is measured (None, or a device without any: this machine);
    ``devices``: where the device name is defined (None: the default devices file)."""
    from hwnas.devices import Devices
    from hwnas.pipelines.fit import fit_device, read_records
    from hwnas.pipelines.profile import profile_space
    from hwnas.pipelines.search import SearchOptions, checkpoint_for, search
    from hwnas.pipelines.search_inputs import evolution_settings, require_devices
    from hwnas.profiling.labels import labels_of

    say = progress or RunProgress()
    run = run.ensure()
    devices = devices or Devices.default()
    device = devices.get(opts.device)
    require_devices([device.name], measurers, devices)  # fail before training, not after
    fleet = (measurers or {}).get(device.name)
    t0, seconds = time.perf_counter(), {}

    t = time.perf_counter()
    trained = _train(run, space, opts, say)
    seconds["train"] = time.perf_counter() - t

    t = time.perf_counter()
    say.log(f"\n== 2/4 profile: {opts.n} subnets on {device.name} -> {run.store}")
    with say.profiling(device.name) as on_record:
        profiled = profile_space(
            space, device, opts.n, run.store, measurers=fleet, seed=opts.seed, progress=on_record, log=say.profile_log
        )
    say.profiled(profiled)
    if profiled.interrupted:
        return RunResult(run, device.name, seconds, trained, profiled)
    seconds["profile"] = time.perf_counter() - t

    t = time.perf_counter()
    say.log(f"\n== 3/4 fit: latency predictors for {device.name} -> {run.predictor(device.name)}")
    fit = fit_device(space, device.name, run.store, run.predictor(device.name), seed=opts.seed)
    say.fitted(fit)
    seconds["fit"] = time.perf_counter() - t

    # a subnet's label: the median of its visits at the host's typical speed, as the predictor fits
    labels = labels_of(read_records(run.store, device.name, space))
    budget = opts.latency_ms or default_budget(labels)
    t = time.perf_counter()
    say.log(f"\n== 4/4 search: the most accurate subnet under {budget:g} ms on {device.name}")
    search_opts = SearchOptions(
        budgets=[(device.name, budget)],
        data=opts.data,
        subset=opts.subset,
        seed=opts.seed,
        settings=evolution_settings(opts.population, opts.generations),
    )
    report = search(
        run,
        space,
        search_opts,
        checkpoint=checkpoint_for(run, None, search_opts.objective),
        on_generation=say.generations(search_opts),
        log=say.log,
        measurers=measurers,
        devices=devices,
    )
    say.searched(report)
    seconds["search"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    label_ms = dict(zip(labels["key"], map(float, labels["latency_ms"])))
    return RunResult(run, device.name, seconds, trained, profiled, fit, budget, report, label_ms)


def _train(run: RunDir, space: SearchSpace, opts: RunOptions, say: RunProgress) -> TrainResult | None:
    """``hwnas train`` with the default recipe, the given epochs and seed; None when ``run`` has a supernet."""
    from hwnas.supernet.train import TrainConfig, train_supernet

    if run.supernet.is_file():
        say.log(f"\n== 1/4 train: reusing {run.supernet} (delete it to retrain)")
        return None
    cfg = TrainConfig(seed=opts.seed) if opts.epochs is None else TrainConfig(epochs=opts.epochs, seed=opts.seed)
    say.log(f"\n== 1/4 train: {space.name} on {opts.data}, {cfg.epochs} epochs -> {run.supernet}")
    with say.training() as (on_step, on_epoch):
        trained = train_supernet(space, opts.data, run.supernet, cfg, on_step=on_step, on_epoch=on_epoch)
    say.trained(trained)
    return trained


def _reference(e: dict[str, Any], device: str, labels_ms: dict[str, float]) -> str:
    """One of the space's extremes: its accuracy, and its latency as profiled (else as predicted)."""
    ms = labels_ms.get(e["key"])
    lat = f"{ms:.3f} ms measured" if ms is not None else f"{e['predicted_ms'][device]:.3f} ms predicted"
    return f"{e['key']}: val {_pct(e['val_top1'])}, test {_pct(e['test_top1'])}, {device} {lat}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} %"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} ms"
