from __future__ import annotations

import numpy as np
import pytest

from hwnas.core import ConfigError
from hwnas.search import CachedFitness, Constraints, EvolutionSettings, LatencyBudget, evolve, run_search
from hwnas.search.evolution import _Run

from .conftest import MacsLatency, macs_fitness, size_fitness


def test_defaults_are_autoformers():
    s = EvolutionSettings()
    assert (s.population, s.generations, s.parents, s.mutations, s.crossovers) == (50, 20, 10, 25, 25)
    assert (s.layer_prob, s.depth_prob, s.embed_prob) == (0.2, 0.4, 0.4)


@pytest.mark.parametrize("bad", [dict(population=0), dict(mutations=40, crossovers=20), dict(layer_prob=1.5)])
def test_bad_settings_refused(bad):
    with pytest.raises(ConfigError):
        EvolutionSettings(**bad)


def test_every_candidate_unique_and_scored_once(space):
    calls: list[str] = []

    def fitness(cfg):
        calls.append(cfg.key())
        return size_fitness(cfg)

    res = evolve(space, fitness, Constraints(space), settings=EvolutionSettings(generations=8), seed=3)
    keys = [c.key for c in res.candidates]
    assert len(keys) == len(set(keys)) == len(calls) == len(set(calls))
    assert len(keys) == 8 * 50
    assert all(space.in_choices(c.config) for c in res.candidates)
    assert [h.generation for h in res.history] == list(range(8))


def test_reproducible_from_seed(space):
    lat = MacsLatency(space)

    def run(seed):
        return evolve(
            space,
            size_fitness,
            Constraints(space, [LatencyBudget("cpu", lat, 2.0)]),
            settings=EvolutionSettings(generations=5),
            seed=seed,
        )

    a, b, c = run(7), run(7), run(8)
    assert [x.key for x in a.candidates] == [x.key for x in b.candidates]
    assert [x.fitness for x in a.candidates] == [x.fitness for x in b.candidates]
    assert [x.key for x in a.candidates] != [x.key for x in c.candidates]


def test_finds_the_unconstrained_optimum(space):
    res = evolve(space, size_fitness, Constraints(space), seed=0)
    assert res.best.key == space.max_config().key()
    assert res.history[-1].best_fitness > res.history[0].best_fitness


def test_constraints_honoured_with_margin_and_params(space):
    lat = MacsLatency(space)
    con = Constraints(space, [LatencyBudget("cpu", lat, 2.5, margin=0.1)], params_m=(0.5, 1.2), macs_m=60)
    res = evolve(space, macs_fitness, con, settings=EvolutionSettings(generations=6), seed=1)
    assert len(res.candidates) > 100
    for c in res.candidates:
        assert c.latency_ms["cpu"] <= 2.5 * 0.9
        assert 0.5e6 <= c.params <= 1.2e6 and c.macs <= 60e6
    # the search pushes against the binding constraint: the best is close to the latency limit
    assert res.best.latency_ms["cpu"] > 0.8 * 2.25


def test_several_devices_at_once(space):
    cpu, gpu = MacsLatency(space), MacsLatency(space, scale=0.01, slow_two_heads=0.3)
    con = Constraints(space, [LatencyBudget("cpu", cpu, 3.0), LatencyBudget("gpu", gpu, 1.6)])
    res = evolve(space, macs_fitness, con, settings=EvolutionSettings(generations=6), seed=2)
    assert res.candidates
    assert all(c.latency_ms["cpu"] <= 3.0 and c.latency_ms["gpu"] <= 1.6 for c in res.candidates)
    binding = {d for d in ("cpu", "gpu") if res.best.latency_ms[d] > 0.85 * {"cpu": 3.0, "gpu": 1.6}[d]}
    assert binding  # at least one budget is what stops the best from growing


def test_predictions_are_batched(space):
    lat = MacsLatency(space)
    res = evolve(
        space,
        size_fitness,
        Constraints(space, [LatencyBudget("cpu", lat, 2.0)]),
        settings=EvolutionSettings(generations=5),
        seed=0,
    )
    assert lat.calls < len(res.candidates) / 5


def test_caps_end_an_exhausted_space(tiny_space):
    fit = CachedFitness(size_fitness)
    res = evolve(tiny_space, fit, Constraints(tiny_space), seed=0)  # 27 configs, population 50
    assert len(res.candidates) == len({c.key for c in res.candidates}) <= 27
    assert len(res.candidates) >= 20  # most of the space is reached before the caps stop it
    assert len(fit.cache) == len(res.candidates)


def test_proposal_loop_is_capped(space):
    run = _Run(space, size_fitness, Constraints(space), EvolutionSettings(), np.random.default_rng(0), False)
    draws = []

    def same():
        draws.append(1)
        return space.min_config()

    assert len(run.propose(same, 5)) == 1
    assert len(draws) == 5 * EvolutionSettings().tries_per_candidate


def test_tight_budget_is_seeded_by_the_feasibility_search(space):
    lat = MacsLatency(space, slow_two_heads=0.2)
    fastest = min(lat.predict(space.sample_unique(3000, np.random.default_rng(0))))
    con = Constraints(space, [LatencyBudget("cpu", lat, float(fastest) * 1.05)])
    res = run_search(space, size_fitness, con, settings=EvolutionSettings(generations=3), seed=0)
    assert res.candidates and all(c.latency_ms["cpu"] <= fastest * 1.05 for c in res.candidates)


def test_non_finite_fitness_refused(space):
    with pytest.raises(ConfigError):
        evolve(space, lambda c: float("nan"), Constraints(space), seed=0)


def test_search_package_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, hwnas.search, hwnas.search.report; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
