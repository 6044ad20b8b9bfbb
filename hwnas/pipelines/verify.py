"""Verification: the best candidates re-measured on every budgeted device, best first, until one fits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from hwnas.core.space import SearchSpace
from hwnas.search import Candidate, LatencyBudget


def measure_candidate(
    space: SearchSpace, c: Candidate, budgets: list[LatencyBudget], checkpoint: Path | None
) -> dict[str, dict[str, Any]]:
    """Measure ``c`` now on every device with the profiling protocol (no predictor involved)."""
    out = {}
    for b in budgets:
        rec = _measure(b.device, space, c, checkpoint)
        ok = str(rec.status) == "ok"
        ms = float(rec.latency_ms) if ok else None
        out[b.device] = {
            "budget_ms": b.budget_ms,
            "predicted_ms": c.latency_ms[b.device],
            "measured_ms": ms,
            "spread": float(rec.spread) if ok and rec.spread is not None else None,
            "status": str(rec.status),
            "within_budget": None if b.budget_ms is None or ms is None else ms <= b.budget_ms,
        }
    return out


def _measure(device: str, space: SearchSpace, c: Candidate, checkpoint: Path | None) -> Any:
    """On the device's agents when ``--agent`` routed it there (:func:`hwnas.pipelines.remote.use_agents`)."""
    from hwnas.devices import get
    from hwnas.pipelines.profile import measure_subnet
    from hwnas.pipelines.remote import agents_for, measure_remote

    if agents_for(device):
        return measure_remote(get(device), space, c.config, agents_for(device), checkpoint=checkpoint)
    return measure_subnet(device, space, c.config, checkpoint=checkpoint)


def verify(
    space: SearchSpace,
    ranked: list[Candidate],
    budgets: list[LatencyBudget],
    checkpoint: Path | None,
    max_measured: int,
    log: Callable[[str], None],
) -> tuple[Candidate | None, list[dict], str]:
    """Measure candidates best first until one meets every budget; returns it, the attempts and a note."""
    attempts: list[dict] = []
    for rank, c in enumerate(ranked[:max_measured], 1):
        lat = measure_candidate(space, c, budgets, checkpoint)
        misses = [
            f"{d}: {m['measured_ms']} ms > {m['budget_ms']:g} ms"
            if m["measured_ms"] is not None
            else f"{d}: measurement failed ({m['status']})"
            for d, m in lat.items()
            if m["within_budget"] is False or m["measured_ms"] is None
        ]
        attempts.append(
            {
                "rank": rank,
                "key": c.key,
                "fitness": c.fitness,
                "latency": lat,
                "outcome": "within budget" if not misses else "missed: " + "; ".join(misses),
            }
        )
        log(
            f"measured #{rank} {c.key}: "
            + ", ".join(
                f"{d} {m['measured_ms']:.3f} ms (predicted {m['predicted_ms']:.3f})"
                if m["measured_ms"] is not None
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
            return c, attempts, note
    return None, attempts, f"none of the best {len(attempts)} candidates met every budget when measured"
