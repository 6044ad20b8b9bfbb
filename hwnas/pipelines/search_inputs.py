"""The inputs of a search: options, the supernet checkpoint, and one latency budget per device."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hwnas.core.errors import ConfigError, HwnasError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.pipelines.workdir import RunDir
from hwnas.search import EvolutionSettings, LatencyBudget
from hwnas.search.constraints import MAX_MARGIN, noise_aware_margin

if TYPE_CHECKING:
    from hwnas.devices import Device, Devices
    from hwnas.profiling.measurer import Measurer

OBJECTIVES = {
    "accuracy": "top-1 on the validation split with weights inherited from the supernet",
    "params": "training-free: the most parameters under the constraints (a proxy for accuracy within one "
    "supernet; see the benchmark for its Kendall tau against inherited-weight accuracy)",
}


@dataclass(frozen=True)
class SearchOptions:
    """What to search for and how; :func:`hwnas.pipelines.search.search` leaves it as given. A device
    without a predictor is profiled and fitted first only when ``search`` is given ``fit_missing``."""

    budgets: list[tuple[str, float | None]] = field(default_factory=list)  # (device, budget ms or None)
    params_m: tuple[float | None, float | None] = (None, None)
    macs_m: float | None = None
    objective: str = "accuracy"
    data: str = "mnist"  # the bundled set, or an image folder (see hwnas.data.loaders)
    subset: int | None = None  # validation images used for the fitness (None: all)
    seed: int = 0
    settings: EvolutionSettings = field(default_factory=EvolutionSettings)
    pareto: bool = False
    margin: float | None = None  # None: from each predictor's held-out error and label noise (noise_aware_margin)
    max_measured: int = 5  # candidates re-measured at most before giving up
    measure: bool = True
    export: bool = True
    tie_tolerance: float | None = None  # points: prefer the fastest subnet tied with the best (None: off)
    precision: str = "auto"  # arithmetic of the accuracy scores (fitness.score_precision); resolved by search()
    # deployed forms searched as alternatives (--precisions): form device -> its group (the device asked for)
    forms: dict[str, str] = field(default_factory=dict)


def evolution_settings(
    population: int,
    generations: int,
    parents: int | None = None,
    mutations: int | None = None,
    crossovers: int | None = None,
) -> EvolutionSettings:
    """AutoFormer's proportions where not given: population / 5 parents, population / 2 of each operator."""
    n = population
    return EvolutionSettings(
        population=n,
        generations=generations,
        parents=parents or max(2, n // 5),
        mutations=n // 2 if mutations is None else mutations,
        crossovers=n // 2 if crossovers is None else crossovers,
    )


def checkpoint_for(run: RunDir, checkpoint: str | Path | None, objective: str) -> Path | None:
    """The supernet checkpoint, or a clear refusal when the objective needs one."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    path = Path(checkpoint) if checkpoint else run.supernet
    if path.is_file():
        return path
    if checkpoint:
        raise NotFoundError(f"no such checkpoint: {path}")
    if objective == "accuracy":
        raise NotFoundError(
            f"no supernet checkpoint at {path}: train one with 'hwnas train', pass --checkpoint, "
            "or search training-free with '--objective params'"
        )
    return None


def missing_predictor_message(run: RunDir, device: str) -> str:
    return (
        f"no latency predictor for {device} at {run.predictor(device)}: run 'hwnas profile --device {device}' "
        f"then 'hwnas fit --device {device}' (or pass --fit-missing to do both now)"
    )


def fit_missing_predictor(
    run: RunDir,
    space: SearchSpace,
    device: str | Device,
    n: int = 200,
    *,
    seed: int = 0,
    progress: Callable[[Any, int, int], None] | None = None,
) -> Path | None:
    """``hwnas profile --device D -n N`` then ``hwnas fit --device D`` into the run folder."""
    from hwnas.pipelines.fit import fit_device
    from hwnas.pipelines.profile import profile_space

    name = device if isinstance(device, str) else device.name
    profile_space(space, device, n, run.ensure().store, seed=seed, progress=progress)
    return fit_device(space, name, run.store, run.predictor(name), seed=seed).path


def load_budgets(
    run: RunDir, space: SearchSpace, opts: SearchOptions, fit_missing: Callable[[str], None] | None = None
) -> tuple[list[LatencyBudget], list[dict]]:
    """One LatencyBudget per device, with the safety margin from its predictor's p95 relative error."""
    from hwnas.predictors import load_predictor

    budgets, info = [], []
    for device, budget_ms in opts.budgets:
        path = run.predictor(device)
        if not path.is_file():
            if fit_missing is None:
                raise NotFoundError(missing_predictor_message(run, device))
            fit_missing(device)
        pred = load_predictor(path, space=space, device=device)
        p95 = float(pred.metrics_["p95_rel_err"])
        auto = noise_aware_margin(pred.metrics_)
        margin = auto if opts.margin is None else opts.margin
        if budget_ms is not None and opts.margin is None and auto > MAX_MARGIN:
            raise ConfigError(
                f"the {device} latency predictor's p95 relative error is {p95:.1%} (a margin of {auto:.1%} "
                f"with its store's label noise), more than the "
                f"{MAX_MARGIN:.0%} a budget margin can absorb: profile more subnets (on a quiet "
                f"machine) and refit with 'hwnas fit --device {device}', or set --margin"
            )
        budgets.append(
            LatencyBudget(
                device, pred, budget_ms, margin if budget_ms is not None else 0.0, group=opts.forms.get(device, "")
            )
        )
        info.append(
            {
                "device": device,
                "budget_ms": budget_ms,
                "predictor": str(path),
                "p95_rel_err": p95,
                "margin": budgets[-1].margin,
                "limit_ms": budgets[-1].limit_ms,
            }
        )
    return budgets, info


def require_devices(
    names: list[str], measurers: Mapping[str, Sequence[Measurer]] | None = None, devices: Devices | None = None
) -> None:
    """Refuse before searching when a device measured here (no measurers of its own) cannot run here:
    the winner could not be measured."""
    from hwnas.devices import Devices
    from hwnas.profiling.backends import require_available

    for name in names:
        if not (measurers or {}).get(name):
            require_available((devices or Devices.default()).get(name))


def precision_forms(device: str, precisions: Sequence[str], devices: Devices | None = None) -> dict[str, str]:
    """``--precisions`` for ``device``: each deployed form's device name -> the group (``device``). The form
    of a precision is ``device`` itself when it has that precision, else ``DEVICE-int8`` (int8-static) or
    ``DEVICE-int8-dynamic``, defined like ``device`` but for the precision (built in for ``cpu``)."""
    from hwnas.devices import Devices
    from hwnas.devices.registry import builtin

    get = (devices or Devices.default()).get
    base = get(device)
    suffix = {"int8-static": "-int8", "int8-dynamic": "-int8-dynamic", "fp32": "", "fp16": "-fp16"}
    forms = {}
    for p in precisions:
        if p not in suffix:
            raise ConfigError(f"--precisions: unknown precision {p!r}; known: {', '.join(suffix)}")
        name = device if base.precision == p else device.removesuffix("-int8").removesuffix("-int8-dynamic") + suffix[p]
        try:
            form = get(name)
        except HwnasError:
            like = f"base = {device!r}" if builtin(device) is not None else f"the settings of {device!r}"
            raise ConfigError(
                f"--precisions {p}: no device {name!r}; define it in a devices file ({like}, precision = {p!r})"
            ) from None
        if form.precision != p:
            raise ConfigError(f"--precisions {p}: device {name!r} has precision {form.precision!r}")
        forms[name] = device
    return forms
