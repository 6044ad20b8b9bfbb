"""Finding feasible subnets when random sampling misses them, and explaining when there are none.

Both use a quick evolution that minimises the constraint violation (for a latency budget: the
predicted latency), seeded with the space's smallest subnet: the smallest config is not always the
fastest one, so the answer "the fastest is X ms" comes from a search, not from ``min_config``.
"""

from __future__ import annotations

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import InfeasibleError
from hwnas.core.space import SearchSpace
from hwnas.search.constraints import Constraints, LatencyBudget
from hwnas.search.evolution import EvolutionSettings, SearchResult, evolve

QUICK = EvolutionSettings(population=50, generations=10, parents=10, mutations=25, crossovers=15)


def closest(
    space: SearchSpace, constraints: Constraints, *, seed: int = 0, settings: EvolutionSettings = QUICK
) -> SearchResult:
    """Quick search for the configs that break the constraints least (fitness = -violation)."""

    def fitness(cfg: SubnetConfig) -> float:
        return -constraints.assess([cfg])[0].violation

    return evolve(space, fitness, constraints.relaxed(), settings=settings, seed=seed, seeds=[space.min_config()])


def fastest(
    space: SearchSpace, budget: LatencyBudget, *, seed: int = 0, settings: EvolutionSettings = QUICK
) -> tuple[SubnetConfig, float]:
    """The config with the lowest predicted latency on one device that a quick search finds."""
    only = Constraints(space, [LatencyBudget(budget.device, budget.predictor)])  # no limit
    res = evolve(
        space,
        lambda c: -only.assess([c])[0].latency_ms[budget.device],
        only,
        settings=settings,
        seed=seed,
        seeds=[space.min_config()],
    )
    best = res.best
    return best.config, best.latency_ms[budget.device]


def find_feasible(space: SearchSpace, constraints: Constraints, *, seed: int = 0) -> list[SubnetConfig]:
    """Feasible configs found by the violation-minimising search; InfeasibleError (one line) if none."""
    res = closest(space, constraints, seed=seed)
    found = [c.config for c in res.candidates if constraints.assess([c.config])[0].feasible]
    if found:
        return found
    raise InfeasibleError(explain(space, constraints, res.best.config, seed=seed))


def _space_params_m(space: SearchSpace, constraints: Constraints) -> tuple[float, float]:
    lo = constraints.assess([space.min_config()])[0].params / 1e6
    hi = constraints.assess([space.max_config()])[0].params / 1e6
    return lo, hi


def explain(space: SearchSpace, constraints: Constraints, nearest: SubnetConfig, *, seed: int = 0) -> str:
    """One line saying which constraint no subnet meets, and how close the space gets."""
    lo, hi = constraints.params_m
    p_lo, p_hi = _space_params_m(space, constraints)
    if (lo is not None and lo > p_hi) or (hi is not None and hi < p_lo):
        return (
            f"no subnet of {space.name} has between {lo if lo is not None else 0} and "
            f"{hi if hi is not None else 'inf'} M parameters; the space spans {p_lo:.3f}-{p_hi:.3f} M"
        )
    for b in constraints.budgets:
        if b.limit_ms is None:
            continue
        cfg, ms = fastest(space, b, seed=seed)
        if ms > b.limit_ms:
            margin = (
                f" ({b.limit_ms:.3g} ms after the predictor's {100 * b.margin:.1f} % safety margin)"
                if b.margin > 0
                else ""
            )
            return (
                f"no subnet of {space.name} is predicted under {b.budget_ms:g} ms on {b.device}{margin}; "
                f"the fastest is {ms:.3g} ms (config {cfg.key()})"
            )
    a = constraints.assess([nearest])[0]
    lat = ", ".join(f"{ms:.3g} ms on {d}" for d, ms in a.latency_ms.items())
    return (
        f"no subnet of {space.name} meets all constraints at once ({'; '.join(constraints.describe())}); "
        f"the closest, {nearest.key()}, has {a.params / 1e6:.3f} M params, {a.macs / 1e6:.1f} M MACs"
        + (f" and is predicted at {lat}" if lat else "")
    )
