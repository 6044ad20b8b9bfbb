"""The search entry point: evolve, and when random sampling finds nothing feasible, seed it first."""

from __future__ import annotations

from typing import Callable

from hwnas.core.space import SearchSpace
from hwnas.search.constraints import Constraints
from hwnas.search.evolution import EvolutionSettings, GenerationStats, SearchResult, evolve
from hwnas.search.feasibility import find_feasible
from hwnas.search.protocols import Fitness


def run_search(
    space: SearchSpace,
    fitness: Fitness,
    constraints: Constraints,
    *,
    settings: EvolutionSettings | None = None,
    seed: int = 0,
    pareto: bool = False,
    on_generation: Callable[[GenerationStats], None] | None = None,
) -> SearchResult:
    """Evolutionary (or Pareto) search; raises InfeasibleError with a one-line reason when no subnet
    of the space is predicted to meet the constraints."""
    res = evolve(space, fitness, constraints, settings=settings, seed=seed, pareto=pareto, on_generation=on_generation)
    if res.candidates:
        return res
    seeds = find_feasible(space, constraints, seed=seed)  # raises when there are none
    return evolve(
        space,
        fitness,
        constraints,
        settings=settings,
        seed=seed,
        pareto=pareto,
        seeds=seeds,
        on_generation=on_generation,
    )
