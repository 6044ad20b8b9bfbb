"""Verification: the best candidates re-measured on every budgeted device, best first, until one fits.

A candidate is measured in :data:`VERIFY_VISITS` batches, as a label is (a single visit on a shared host
moves by 2-4 %, the size of a noise-aware margin), each beside the reference ladder; each visit is also
put at the host's typical quiet speed (``typical_ms``), the speed the labels, the predictor and so the
budget describe. The budget is judged on the median of the visits at that speed when the host has a
remembered quiet ladder, else on the median of the plain figures (``measured_ms``, always reported).
Why: on a shared host the machine's own speed moves by 5-20 % within minutes (README, "Labels taken
under load"), so a plain figure says as much about the moment as the subnet.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hwnas.core.space import SearchSpace
from hwnas.profiling.visits import VISITS
from hwnas.search import Candidate, LatencyBudget

if TYPE_CHECKING:
    from hwnas.devices import Devices
    from hwnas.profiling.measurer import Measurer
    from hwnas.profiling.record import LatencyRecord

VERIFY_VISITS = VISITS  # a winner is judged on as many visits as a label is made of


@dataclass(frozen=True)
class PredictedLatency:
    """A candidate's latency on one device as predicted, and the device's budget (None: no budget)."""

    budget_ms: float | None
    predicted_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeviceMeasurement(PredictedLatency):
    """A candidate measured on one device in :data:`VERIFY_VISITS` visits: the median of the plain figures,
    and of the figures at the host's typical speed (None without a remembered quiet ladder)."""

    measured_ms: float | None  # None: the measurement failed (see status)
    typical_ms: float | None
    visits_ms: list[float] | None
    visits_typical_ms: list[float] | None
    spread: float | None  # the widest visit's
    status: str
    within_budget: bool | None  # None: no budget, or no figure to judge

    @property
    def judged_ms(self) -> float | None:
        """The figure the budget is judged on: at the typical speed where known, else the plain one."""
        return self.typical_ms if self.typical_ms is not None else self.measured_ms


@dataclass(frozen=True)
class Attempt:
    """One candidate re-measured during verification (``latency``: per device)."""

    rank: int
    key: str
    fitness: float
    latency: dict[str, DeviceMeasurement]
    outcome: str  # "within budget", or "missed: " and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verification:
    """What verification decided: the winner (None: every candidate measured missed), the attempts, why."""

    winner: Candidate | None
    attempts: list[Attempt]
    note: str


def measure_candidate(
    space: SearchSpace,
    c: Candidate,
    budgets: list[LatencyBudget],
    checkpoint: Path | None,
    measurers: Mapping[str, Sequence[Measurer]] | None = None,
    devices: Devices | None = None,
) -> dict[str, DeviceMeasurement]:
    """Measure ``c`` now on every device with the profiling protocol (no predictor involved), on each
    device's ``measurers`` (None, or a device without any: this machine)."""
    from hwnas.profiling.labels import at_typical_speed

    out = {}
    for b in budgets:
        recs = _measure(b.device, space, c, checkpoint, measurers, devices)
        failed = [r for r in recs if str(r.status) != "ok"]
        ms = None if failed else [float(r.latency_ms) for r in recs]
        at_typical = [] if ms is None else [at_typical_speed(m, r.refs_ms, r.base_ms) for m, r in zip(ms, recs)]
        typical = [t for t in at_typical if t is not None]
        typical_ms = statistics.median(typical) if typical and len(typical) == len(recs) else None
        measured_ms = None if ms is None else statistics.median(ms)
        judged = typical_ms if typical_ms is not None else measured_ms
        out[b.device] = DeviceMeasurement(
            budget_ms=b.budget_ms,
            predicted_ms=c.latency_ms[b.device],
            measured_ms=measured_ms,
            typical_ms=typical_ms,
            visits_ms=ms,
            visits_typical_ms=typical if typical_ms is not None else None,
            spread=None if ms is None else max(float(r.spread or 0.0) for r in recs),
            status=str(failed[0].status if failed else recs[0].status),
            within_budget=None if b.budget_ms is None or judged is None else judged <= b.budget_ms,
        )
    return out


def _measure(
    device: str,
    space: SearchSpace,
    c: Candidate,
    checkpoint: Path | None,
    measurers: Mapping[str, Sequence[Measurer]] | None = None,
    devices: Devices | None = None,
) -> list[LatencyRecord]:
    """``c`` measured in :data:`VERIFY_VISITS` batches on ``device``'s measurers (None: this machine);
    ``devices``: where the name is defined (None: the default devices file)."""
    from hwnas.devices import Devices
    from hwnas.pipelines.profile import measure_visits

    dev = (devices or Devices.default()).get(device)
    return measure_visits(
        dev, space, c.config, VERIFY_VISITS, checkpoint=checkpoint, measurers=(measurers or {}).get(device)
    )


def verify(
    space: SearchSpace,
    ranked: list[Candidate],
    budgets: list[LatencyBudget],
    checkpoint: Path | None,
    max_measured: int,
    log: Callable[[str], None],
    measurers: Mapping[str, Sequence[Measurer]] | None = None,
    shipped: Mapping[str, str] | None = None,
    devices: Devices | None = None,
) -> Verification:
    """Measure candidates best first until one meets every budget: that one, the attempts and a note.
    Of budgets that are alternatives (one group: the deployed forms of a device), a candidate is measured
    in the form it ships in (``shipped``: key -> device; else its fastest predicted form)."""
    attempts: list[Attempt] = []
    for rank, c in enumerate(ranked[:max_measured], 1):
        lat = measure_candidate(space, c, budgets_for(c, budgets, shipped), checkpoint, measurers, devices)
        misses = [
            f"{d}: {m.judged_ms:.3f} ms > {m.budget_ms:g} ms"
            if m.measured_ms is not None
            else f"{d}: measurement failed ({m.status})"
            for d, m in lat.items()
            if m.within_budget is False or m.measured_ms is None
        ]
        outcome = "within budget" if not misses else "missed: " + "; ".join(misses)
        attempts.append(Attempt(rank, c.key, c.fitness, lat, outcome))
        log(
            f"measured #{rank} {c.key} (median of {VERIFY_VISITS} visits): "
            + ", ".join(
                f"{d} {m.measured_ms:.3f} ms{_typical_note(m)} (predicted {m.predicted_ms:.3f})"
                if m.measured_ms is not None
                else f"{d} failed"
                for d, m in lat.items()
            )
            + ("" if not misses else "  -> missed, trying the next")
        )
        if not misses:
            note = (
                "the best candidate met every budget when measured"
                if rank == 1
                else f"the {rank - 1} better candidate(s) missed a budget when measured; #{rank} met them all"
            )
            return Verification(c, attempts, note)
    return Verification(None, attempts, f"none of the best {len(attempts)} candidates met every budget when measured")


def budgets_for(
    c: Candidate, budgets: Sequence[LatencyBudget], shipped: Mapping[str, str] | None = None
) -> list[LatencyBudget]:
    """The budgets ``c`` must meet: every one outside a group, and of each group the form ``c`` ships in."""
    groups: dict[str, list[LatencyBudget]] = {}
    for b in budgets:
        groups.setdefault(b.group, []).append(b)
    out = list(groups.pop("", []))
    for members in groups.values():
        pick = next((b for b in members if (shipped or {}).get(c.key) == b.device), None)
        out.append(pick or min(members, key=lambda b: c.latency_ms[b.device]))
    return out


def _typical_note(m: DeviceMeasurement) -> str:
    return "" if m.typical_ms is None else f", {m.typical_ms:.3f} at the host's typical speed"
