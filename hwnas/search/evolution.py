"""AutoFormer's evolutionary search under hard constraints, plus an NSGA-II-style Pareto mode.

Each generation: the new candidates are scored (fitness cached per key); the parents are the top
``parents`` of everything scored so far (Pareto mode: NSGA-II's selection over accuracy and predicted
latency); the next generation is ``mutations`` mutants of random parents, ``crossovers`` children of
random parent pairs, and random samples for the rest. Every candidate is unique over the whole run and
satisfies the constraints; every draw-until-new loop is capped; one seed fixes the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Sequence

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.search.constraints import Assessment, Constraints
from hwnas.search.pareto import nsga2_order, pareto_front
from hwnas.search.protocols import Fitness


@dataclass(frozen=True)
class EvolutionSettings:
    """AutoFormer's defaults."""

    population: int = 50
    generations: int = 20
    parents: int = 10
    mutations: int = 25
    crossovers: int = 25
    layer_prob: float = 0.2
    depth_prob: float = 0.4
    embed_prob: float = 0.4
    tries_per_candidate: int = 10  # cap: draws allowed per wanted candidate in every proposal loop

    def __post_init__(self) -> None:
        for name in ("population", "generations", "parents", "tries_per_candidate"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.mutations < 0 or self.crossovers < 0 or self.mutations + self.crossovers > self.population:
            raise ConfigError(
                f"mutations ({self.mutations}) + crossovers ({self.crossovers}) must be "
                f"non-negative and at most the population ({self.population})"
            )
        for name in ("layer_prob", "depth_prob", "embed_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be a probability, got {getattr(self, name)}")


@dataclass(frozen=True)
class Candidate:
    """A scored, feasible subnet."""

    config: SubnetConfig
    fitness: float
    latency_ms: dict[str, float]  # predicted, per device
    params: int
    macs: int
    generation: int
    origin: str  # seed | random | mutation | crossover

    @property
    def key(self) -> str:
        return self.config.key()

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "fitness": self.fitness,
            "predicted_latency_ms": self.latency_ms,
            "params": self.params,
            "macs": self.macs,
            "generation": self.generation,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class GenerationStats:
    generation: int
    new: dict[str, int]  # candidates added this generation, by origin
    rejected: int  # proposals that broke a constraint
    evaluated: int  # candidates scored so far
    best_fitness: float
    best_key: str
    front_size: int


@dataclass
class SearchResult:
    candidates: list[Candidate]  # every scored candidate, in order of scoring
    history: list[GenerationStats]
    devices: list[str]
    pareto: bool = False
    settings: EvolutionSettings = field(default_factory=EvolutionSettings)

    def ranked(self) -> list[Candidate]:
        """All candidates, highest fitness first (ties: the faster, then the first found, first)."""
        return sorted(self.candidates, key=rank_key(self.devices))

    @property
    def best(self) -> Candidate:
        return self.ranked()[0]

    def front(self) -> list[Candidate]:
        """The non-dominated candidates (fitness up, predicted latency down), fastest first."""
        idx = pareto_front(objectives(self.candidates, self.devices))
        return sorted((self.candidates[i] for i in idx), key=lambda c: (_cost(c, self.devices), -c.fitness))


def rank_key(devices: Sequence[str]) -> Callable[[Candidate], tuple[float, list[float]]]:
    """The one ranking of candidates (the report's winner and each generation's best use it): highest
    fitness, ties broken by the lower predicted cost; a stable sort keeps the first found first."""
    return lambda c: (-c.fitness, _cost(c, devices))


def _cost(c: Candidate, devices: Sequence[str]) -> list[float]:
    return [c.latency_ms[d] for d in devices] if devices else [float(c.macs)]


def objectives(cands: Sequence[Candidate], devices: Sequence[str]) -> np.ndarray:
    """Rows to minimise: -fitness, then predicted latency per device (MACs when there is no device)."""
    return np.array([[-c.fitness, *_cost(c, devices)] for c in cands], dtype=float).reshape(len(cands), -1)


class _Run:
    def __init__(
        self,
        space: SearchSpace,
        fitness: Fitness,
        constraints: Constraints,
        settings: EvolutionSettings,
        rng: np.random.Generator,
        pareto: bool,
    ) -> None:
        self.space, self.fitness, self.constraints = space, fitness, constraints
        self.s, self.rng, self.pareto = settings, rng, pareto
        self.seen: set[str] = set()  # every key ever proposed, feasible or not
        self.scored: dict[str, Candidate] = {}
        self.rejected = 0

    def propose(self, make: Callable[[], SubnetConfig], n: int) -> list[SubnetConfig]:
        """Up to ``n`` new feasible configs from ``make``, with at most ``tries_per_candidate * n`` draws."""
        out: list[SubnetConfig] = []
        draws, cap = 0, self.s.tries_per_candidate * n
        while len(out) < n and draws < cap:
            batch: dict[str, SubnetConfig] = {}
            while len(batch) < n - len(out) and draws < cap:
                draws += 1
                cfg = make()
                if cfg.key() not in self.seen and cfg.key() not in batch:
                    batch[cfg.key()] = cfg
            cfgs = list(batch.values())
            for cfg, ok in zip(cfgs, self.constraints.feasible(cfgs)):
                self.seen.add(cfg.key())
                if ok:
                    out.append(cfg)
                else:
                    self.rejected += 1
        return out

    def score(self, cfgs: Sequence[SubnetConfig], generation: int, origin: str) -> None:
        for cfg, a in zip(cfgs, self.constraints.assess(cfgs)):
            self.scored[cfg.key()] = _candidate(cfg, float(self.fitness(cfg)), a, generation, origin)

    def parents(self) -> list[SubnetConfig]:
        cands = list(self.scored.values())
        order: np.ndarray | list[int]
        if self.pareto:
            k = max(self.s.parents, self.s.population // 2)
            order = nsga2_order(objectives(cands, self.constraints.devices))[:k]
        else:
            rank = rank_key(self.constraints.devices)
            order = sorted(range(len(cands)), key=lambda i: rank(cands[i]))[: self.s.parents]
        return [cands[i].config for i in order]

    def mutant(self, parents: list[SubnetConfig]) -> SubnetConfig:
        p = parents[int(self.rng.integers(len(parents)))]
        return self.space.mutate(
            p, self.rng, layer_prob=self.s.layer_prob, depth_prob=self.s.depth_prob, embed_prob=self.s.embed_prob
        )

    def child(self, parents: list[SubnetConfig]) -> SubnetConfig:
        i, j = self.rng.choice(len(parents), size=2, replace=False)
        return self.space.crossover(parents[int(i)], parents[int(j)], self.rng)

    def stats(self, generation: int, new: dict[str, int]) -> GenerationStats:
        cands = list(self.scored.values())
        best = min(cands, key=rank_key(self.constraints.devices))  # as SearchResult.ranked()
        front = len(pareto_front(objectives(cands, self.constraints.devices))) if self.pareto else 0
        return GenerationStats(generation, new, self.rejected, len(cands), best.fitness, best.key, front)


def _candidate(cfg: SubnetConfig, fitness: float, a: Assessment, generation: int, origin: str) -> Candidate:
    if not np.isfinite(fitness):
        raise ConfigError(f"fitness of {cfg.key()} is not a finite number: {fitness}")
    return Candidate(cfg, fitness, dict(a.latency_ms), a.params, a.macs, generation, origin)


def evolve(
    space: SearchSpace,
    fitness: Fitness,
    constraints: Constraints,
    *,
    settings: EvolutionSettings | None = None,
    seed: int = 0,
    pareto: bool = False,
    seeds: Sequence[SubnetConfig] = (),
    on_generation: Callable[[GenerationStats], None] | None = None,
) -> SearchResult:
    """Run the search. ``seeds`` (feasible ones) join the first generation before random samples.

    Returns with no candidates when nothing feasible was found within the caps; see
    :func:`hwnas.search.feasibility.find_feasible` to look harder or explain why.
    """
    s = settings or EvolutionSettings()
    run = _Run(space, fitness, constraints, s, np.random.default_rng(seed), pareto)
    devices = constraints.devices
    seed_cfgs = list({c.key(): c for c in seeds}.values())
    first: list[SubnetConfig] = []
    if seed_cfgs:
        ok = constraints.feasible(seed_cfgs)
        run.seen.update(c.key() for c in seed_cfgs)
        first = [c for c, f in zip(seed_cfgs, ok) if f][: s.population]
    population = {"seed": first, "random": run.propose(lambda: space.sample(run.rng), s.population - len(first))}
    history: list[GenerationStats] = []
    for gen in range(s.generations):
        for origin, cfgs in population.items():
            run.score(cfgs, gen, origin)
        if not run.scored:
            break
        history.append(run.stats(gen, {k: len(v) for k, v in population.items() if v}))
        if on_generation:
            on_generation(history[-1])
        if gen == s.generations - 1:
            break
        parents = run.parents()
        population = {
            "mutation": run.propose(partial(run.mutant, parents), s.mutations),
            "crossover": run.propose(partial(run.child, parents), s.crossovers) if len(parents) > 1 else [],
        }
        population["random"] = run.propose(
            lambda: space.sample(run.rng), s.population - sum(len(v) for v in population.values())
        )
        if not any(population.values()):
            break  # the feasible space is exhausted (or the caps were hit everywhere)
    return SearchResult(list(run.scored.values()), history, devices, pareto, s)
