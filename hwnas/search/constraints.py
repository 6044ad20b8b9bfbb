"""Hard constraints of a search: parameter range, MACs cap, latency budgets on one or more devices.

A latency budget is checked against the device predictor's output with a safety margin taken from
the predictor's measured error: with ``margin`` = the 95th percentile of |predicted - measured| /
measured on held-out subnets, a subnet is accepted when ``predicted <= budget * (1 - margin)``.
For a subnet whose relative error is within that percentile, measured = predicted / (1 - err) at
worst, so it is then within budget when measured too.

The default margin (:func:`noise_aware_margin`) separates that error into the predictor's own part and
the label noise, using the store's test-retest disagreement. With ``e`` the held-out p95 relative
error against the labels, ``r`` the p90 relative difference between two visits of one subnet, ``v =
r / sqrt(2)`` one visit's own error (two independent errors differ by sqrt(2) times either), and
``k`` the mean visits per label (a label is the median of its visits, so it carries ``v / sqrt(k)``)::

    model  = sqrt(max(e**2 - v**2 / k, 0))   # what the predictor gets wrong, label noise taken out
    margin = sqrt(model**2 + v**2)           # ... plus the noise of the one measurement that checks it

so a quiet machine (small ``v``, small ``e``) gets a margin of a few per cent, a noisy store a wider one,
and never less than one measurement's own noise. Without retests in the store the margin is ``e``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from hwnas.core.complexity import count_macs, count_params
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.search.protocols import LatencyModel

MAX_MARGIN = 0.5  # a predictor worse than this is useless for budgets; refuse rather than search blind
MIN_RETEST_PAIRS = 5  # fewer subnets measured twice say too little about the noise's p90


def noise_aware_margin(metrics: Mapping[str, Any]) -> float:
    """The default safety margin from a predictor's metrics (``p95_rel_err`` and, if the store had
    retests, ``retest_p90``, ``retest_subnets``, ``label_visits``): see the module's docstring."""
    e = float(metrics["p95_rel_err"])
    r, pairs = metrics.get("retest_p90"), metrics.get("retest_subnets") or 0
    if r is None or pairs < MIN_RETEST_PAIRS or not math.isfinite(float(r)):
        return e
    v = float(r) / math.sqrt(2.0)
    k = max(1.0, float(metrics.get("label_visits") or 1.0))
    model = math.sqrt(max(e * e - v * v / k, 0.0))
    return math.sqrt(model * model + v * v)


@dataclass(frozen=True)
class LatencyBudget:
    """A device, its latency predictor, and optionally a budget (None: latency is only an objective)."""

    device: str
    predictor: LatencyModel = field(repr=False, compare=False)
    budget_ms: float | None = None
    margin: float = 0.0
    # budgets of one non-empty group are alternatives: a subnet meets the group when it meets any of
    # them (the deployed forms of one device: FP32, INT8, ... each with its own predictor)
    group: str = ""

    def __post_init__(self) -> None:
        if self.budget_ms is not None and not (math.isfinite(self.budget_ms) and self.budget_ms > 0):
            raise ConfigError(f"latency budget for {self.device} must be a positive number, got {self.budget_ms}")
        if not (0.0 <= self.margin <= MAX_MARGIN):
            raise ConfigError(
                f"safety margin for {self.device} must lie in [0, {MAX_MARGIN}], got {self.margin:.3f} "
                "(refit the predictor with more profiled subnets, or pass a margin explicitly)"
            )

    @property
    def limit_ms(self) -> float | None:
        """The largest predicted latency accepted."""
        return None if self.budget_ms is None else self.budget_ms * (1.0 - self.margin)


@dataclass(frozen=True)
class Assessment:
    """A config's predicted latency per device, size, and whether (and by how much) it breaks a limit."""

    latency_ms: dict[str, float]
    params: int
    macs: int
    violation: float  # 0 when feasible; else the largest relative excess over a limit
    within: tuple[str, ...] = ()  # the budgeted devices whose limit it meets

    @property
    def feasible(self) -> bool:
        return self.violation <= 0.0


class Constraints:
    """Batch feasibility checks, with predictions cached per config key."""

    def __init__(
        self,
        space: SearchSpace,
        budgets: Sequence[LatencyBudget] = (),
        params_m: tuple[float | None, float | None] = (None, None),
        macs_m: float | None = None,
    ) -> None:
        devices = [b.device for b in budgets]
        if len(set(devices)) != len(devices):
            raise ConfigError(f"each device may have one budget, got {devices}")
        lo, hi = params_m
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"parameter range is empty: {lo} M > {hi} M")
        if macs_m is not None and not macs_m > 0:
            raise ConfigError(f"MACs cap must be positive, got {macs_m}")
        self.space = space
        self.budgets = tuple(budgets)
        self.params_m = (lo, hi)
        self.macs_m = macs_m
        self._cache: dict[str, Assessment] = {}
        self._latency: dict[str, dict[str, float]] = {}  # predictions per key, shared with relaxed()

    def relaxed(self) -> Constraints:
        """The same devices and predictors (and prediction cache) with no limit at all."""
        free = Constraints(self.space, [LatencyBudget(b.device, b.predictor, group=b.group) for b in self.budgets])
        free._latency = self._latency
        return free

    @property
    def devices(self) -> list[str]:
        return [b.device for b in self.budgets]

    def assess(self, configs: Sequence[SubnetConfig]) -> list[Assessment]:
        """One assessment per config; each new config costs one batched predictor call per device."""
        todo = list({c.key(): c for c in configs if c.key() not in self._latency}.values())
        if todo:
            lat = {b.device: self._predict(b, todo) for b in self.budgets}
            for i, c in enumerate(todo):
                self._latency[c.key()] = {d: float(v[i]) for d, v in lat.items()}
        for c in configs:
            if c.key() not in self._cache:
                self._cache[c.key()] = self._assess_one(c, self._latency[c.key()])
        return [self._cache[c.key()] for c in configs]

    def feasible(self, configs: Sequence[SubnetConfig]) -> np.ndarray:
        return np.array([a.feasible for a in self.assess(configs)], dtype=bool)

    def describe(self) -> list[str]:
        """Human-readable constraints, for reports."""
        out = []
        lo, hi = self.params_m
        if lo is not None or hi is not None:
            out.append(f"params in [{lo if lo is not None else 0}, {hi if hi is not None else 'inf'}] M")
        if self.macs_m is not None:
            out.append(f"MACs <= {self.macs_m} M")
        for b in self.budgets:
            if b.budget_ms is not None:
                out.append(
                    f"{b.device}: measured <= {b.budget_ms:g} ms (predicted <= {b.limit_ms:.3f} ms, "
                    f"margin {100 * b.margin:.1f} %)"
                )
        return out

    def _predict(self, budget: LatencyBudget, configs: list[SubnetConfig]) -> np.ndarray:
        y = np.asarray(budget.predictor.predict(configs), dtype=float).reshape(-1)
        if y.shape[0] != len(configs) or not np.all(np.isfinite(y)):
            raise ConfigError(
                f"latency predictor of {budget.device} returned {y.shape[0]} values "
                f"(finite: {bool(np.all(np.isfinite(y)))}) for {len(configs)} configs"
            )
        return y

    def _assess_one(self, cfg: SubnetConfig, latency_ms: dict[str, float]) -> Assessment:
        params, macs = count_params(self.space, cfg), count_macs(self.space, cfg)
        excess = [0.0]
        lo, hi = self.params_m
        if lo is not None and params < lo * 1e6:
            excess.append((lo * 1e6 - params) / (lo * 1e6))
        if hi is not None and params > hi * 1e6:
            excess.append(params / (hi * 1e6) - 1.0)
        if self.macs_m is not None and macs > self.macs_m * 1e6:
            excess.append(macs / (self.macs_m * 1e6) - 1.0)
        groups: dict[str, list[float]] = {}
        for b in self.budgets:
            over = 0.0 if b.limit_ms is None else max(0.0, latency_ms[b.device] / b.limit_ms - 1.0)
            if b.group:
                groups.setdefault(b.group, []).append(over)
            else:
                excess.append(over)
        excess += [min(g) for g in groups.values()]  # one alternative of a group suffices
        within = tuple(b.device for b in self.budgets if b.limit_ms is not None and latency_ms[b.device] <= b.limit_ms)
        return Assessment(latency_ms, params, macs, max(excess), within)
