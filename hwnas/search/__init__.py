"""Hardware-aware evolutionary search (torch-free): AutoFormer's evolution, constraints, Pareto front."""

from hwnas.search.constraints import Assessment, Constraints, LatencyBudget
from hwnas.search.evolution import Candidate, EvolutionSettings, GenerationStats, SearchResult, evolve
from hwnas.search.feasibility import explain, fastest, find_feasible
from hwnas.search.pareto import crowding_distance, non_dominated_sort, nsga2_select, pareto_front
from hwnas.search.protocols import CachedFitness, Fitness, LatencyModel
from hwnas.search.runner import run_search

__all__ = [
    "Assessment",
    "Constraints",
    "LatencyBudget",
    "Candidate",
    "EvolutionSettings",
    "GenerationStats",
    "SearchResult",
    "evolve",
    "explain",
    "fastest",
    "find_feasible",
    "crowding_distance",
    "non_dominated_sort",
    "nsga2_select",
    "pareto_front",
    "CachedFitness",
    "Fitness",
    "LatencyModel",
    "run_search",
]
