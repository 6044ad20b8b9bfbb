"""`hwnas profile -n auto`: measure, in rounds of actively chosen subnets, until the predictor's
cross-validated accuracy reaches a goal (default: 90 % of the subnets within ±5 %).

Each round fits what the store holds: a transfer from the best source of the stores given
(:mod:`hwnas.pipelines.fit_transfer`) while there is one, else a fit from scratch once the first
:data:`~hwnas.pipelines.fit.MIN_RECORDS` subnets of the seeded plan are measured. The next subnets are those
that pin the model best (:func:`hwnas.predictors.active.choose`), measured with
:func:`hwnas.pipelines.profile.profile_configs`. It stops at the goal, at ``max_n`` subnets, or when
interrupted; every record is committed as it comes, so a rerun resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.devices import get as get_device
from hwnas.pipelines.fit import MIN_RECORDS
from hwnas.pipelines.fit_transfer import (
    MIN_TARGET,
    Group,
    NoSourceError,
    fit_transfer,
    machine_of,
    read_groups,
    target_group,
    why_not,
)
from hwnas.pipelines.profile import ProfileSummary, Progress, profile_configs
from hwnas.predictors import LatencyPredictor
from hwnas.predictors.active import candidate_pool, choose
from hwnas.predictors.transfer import PRIOR_LAMBDA, Prior, fit_source
from hwnas.profiling import sampling
from hwnas.profiling.measurer import LocalMeasurer, Measurer
from hwnas.profiling.protocol import DEFAULT_BATCH
from hwnas.profiling.store import LatencyStore
from hwnas.profiling.visits import VISITS

GOAL, WITHIN = 0.9, 0.05
STEP = 5  # subnets per round
MAX_N = 200


@dataclass
class Round:
    labels: int  # target subnets measured when the round's fit was made
    method: str  # "transfer from DEVICE / SPACE", "from scratch" or "none yet"
    cv: dict[str, float] = field(default_factory=dict)


@dataclass
class AutoSummary:
    device: str
    space: str
    goal: float
    within: float
    rounds: list[Round] = field(default_factory=list)
    profiled: list[ProfileSummary] = field(default_factory=list)
    reached: bool = False
    interrupted: bool = False
    skipped: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def labels(self) -> int:
        return self.rounds[-1].labels if self.rounds else 0

    @property
    def measured(self) -> int:
        """New subnets measured by this run (all visits of one subnet count once)."""
        return len({r.key for s in self.profiled for r in s.records})


def _share(cv: dict[str, float], within: float) -> float:
    return float(cv["within_5"] if within == 0.05 else cv["within_10"] if within == 0.10 else np.nan)


def assess(target: Group, sources: Sequence[Group], any_host: bool) -> tuple[Round, Prior | None, float]:
    """The round's fit on the target's labels: its figures, the prior for the next choice and its ridge."""
    n = len(target.configs)
    if n >= MIN_TARGET:
        try:
            res = fit_transfer(target, sources, any_host=any_host)
            c = res.chosen
            return Round(n, f"transfer from {c.source.name}", c.cv), c.prior, c.adapted.lam
        except NoSourceError:
            pass
    if n >= MIN_RECORDS:
        pred = LatencyPredictor(target.space, device=target.device).fit(target.configs, target.latency_ms)
        prior = Prior.of(fit_source(target.space, target.configs, target.latency_ms), target.space)
        return Round(n, f"from scratch ({pred.family_})", dict(pred.metrics_["cv"])), prior, PRIOR_LAMBDA
    return Round(n, "none yet"), None, PRIOR_LAMBDA


def first_source(target: Group, sources: Sequence[Group], any_host: bool) -> Group | None:
    """Before any target label: the closest usable source (same device, then same space, most labels)."""
    ok = [s for s in sources if why_not(s, target, any_host) is None]
    ok.sort(key=lambda s: (s.device != target.device, s.space.digest() != target.space.digest(), -len(s.configs)))
    return ok[0] if ok else None


def profile_until(
    space: SearchSpace,
    device_name: str | Device,
    store_path: str | Path,
    *,
    sources: Sequence[str | Path] = (),
    goal: float = GOAL,
    within: float = WITHIN,
    step: int = STEP,
    max_n: int = MAX_N,
    any_host: bool = False,
    measurers: Sequence[Measurer] | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    retest: int | None = 0,
    visits: int = VISITS,
    log: Callable[[str], None] = print,
) -> AutoSummary:
    """Measure actively chosen subnets of ``space`` on the device until the cross-validated share of subnets
    within ``within`` (0.05 or 0.10) reaches ``goal``; ``sources``: other stores to transfer from."""
    if within not in (0.05, 0.10) or not 0 < goal <= 1 or step < 1 or max_n < 1:
        raise ConfigError("-n auto: within must be 0.05 or 0.10, goal in (0, 1], step and max_n positive")
    from hwnas.profiling.backends import fingerprint
    from hwnas.profiling.record import host_id_of

    device = get_device(device_name)
    if not measurers:
        LocalMeasurer().check(device)
    fp = fingerprint(device)
    host = host_id_of(fp) if not measurers else None  # agents: the host of their first records
    out = AutoSummary(device.name, space.name, goal, within)
    groups = [g for p in sources for g in read_groups(p, space, out.skipped)]
    t0 = time.perf_counter()
    with LatencyStore(store_path) as store:
        while True:
            target = _target(store, device.name, space, host, machine_of(fp))
            rnd, prior, lam = assess(target, groups, any_host)
            out.rounds.append(rnd)
            log(f"{rnd.labels} subnets measured; fit: {rnd.method}" + _figures(rnd.cv, within))
            if rnd.cv and rnd.labels >= STEP and _share(rnd.cv, within) >= goal:
                out.reached = True
                break
            if rnd.labels >= max_n:
                break
            todo = _next(target, groups, prior, lam, store, device.name, space, step, max_n, seed, any_host)
            if not todo:
                break
            s = profile_configs(
                todo,
                space,
                device,
                store,
                measurers=measurers,
                checkpoint=checkpoint,
                seed=seed + len(out.rounds),
                batch=batch,
                progress=progress,
                retest=retest,
                visits=visits,
                log=log,
            )
            out.profiled.append(s)
            host = host or next((r.host_id for r in s.records if r.host_id), None)
            if s.interrupted:
                out.interrupted = True
                break
    out.elapsed_s = time.perf_counter() - t0
    return out


def _figures(cv: dict[str, Any], within: float) -> str:
    if not cv:
        return ""
    return f"; cross-validated within ±{within:.0%}: {_share(cv, within):.0%}, MAPE {cv['mape']:.1%}"


def _target(store: LatencyStore, device: str, space: SearchSpace, host: str | None, machine: dict) -> Group:
    df = store.to_dataframe(device=device, space_digest=space.digest(), host_id=host)
    df = df[df["status"] == "ok"]
    g = target_group(df, device, space, str(store.path))
    g.machine = g.machine or machine
    return g


def _next(
    target: Group,
    sources: Sequence[Group],
    prior: Prior | None,
    lam: float,
    store: LatencyStore,
    device: str,
    space: SearchSpace,
    step: int,
    max_n: int,
    seed: int,
    any_host: bool,
) -> list[Any]:
    """The next round's subnets: actively chosen, or the seeded plan's first ones without any model."""
    done = store.keys(device, space.digest())
    k = min(step, max_n - len(target.configs))
    if prior is None and not target.configs:
        src = first_source(target, sources, any_host)
        if src is not None:
            prior = Prior.of(fit_source(src.space, src.configs, src.latency_ms), space)
    if prior is None:  # no source: the seeded plan up to MIN_RECORDS labels (smallest, largest, every choice)
        need = MIN_RECORDS - len(target.configs)
        return [c for c in sampling.plan(space, len(done) + need, seed) if c.key() not in done][:need]
    pool = candidate_pool(space, done, seed=seed + len(done))
    picks = choose(prior, space, pool, k, target.configs, target.latency_ms, lam)
    return [pool[i] for i in picks]
