from __future__ import annotations

import numpy as np

from hwnas.search import (
    Constraints,
    EvolutionSettings,
    LatencyBudget,
    crowding_distance,
    evolve,
    non_dominated_sort,
    nsga2_select,
    pareto_front,
)
from hwnas.search.pareto import dominates

from .conftest import MacsLatency, macs_fitness


def _brute_front(objs):
    return {i for i in range(len(objs)) if not any(dominates(objs[j], objs[i]) for j in range(len(objs)))}


def test_non_dominated_sort_matches_brute_force():
    rng = np.random.default_rng(0)
    objs = rng.integers(0, 6, size=(60, 2)).astype(float)  # many ties and duplicates
    fronts = non_dominated_sort(objs)
    assert sorted(np.concatenate(fronts).tolist()) == list(range(60))
    assert set(fronts[0].tolist()) == _brute_front(objs)
    for k in range(1, len(fronts)):  # each member of front k is dominated by someone in front k-1
        for i in fronts[k]:
            assert any(dominates(objs[j], objs[i]) for j in fronts[k - 1])
            assert not any(dominates(objs[j], objs[i]) for j in fronts[k])


def test_crowding_extremes_are_infinite():
    objs = np.array([[0.0, 3.0], [1.0, 2.0], [1.5, 1.5], [3.0, 0.0]])
    d = crowding_distance(objs)
    assert np.isinf(d[0]) and np.isinf(d[3]) and np.all(np.isfinite(d[1:3]))


def test_nsga2_select_takes_front_zero_first():
    objs = np.array([[0, 0], [1, 1], [0, 2], [2, 0], [3, 3]], dtype=float)
    assert nsga2_select(objs, 1).tolist() == [0]
    assert set(nsga2_select(objs, 4).tolist()) == {0, 1, 2, 3}
    assert pareto_front(objs).tolist() == [0]


def _hypervolume(pts, ref):
    """2-D hypervolume of minimisation points w.r.t. a reference point."""
    pts = pts[np.argsort(pts[:, 0])]
    hv, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            hv += (ref[0] - x) * (best_y - y)
            best_y = y
    return hv


def test_pareto_search_front_is_non_dominated_and_spread(space):
    lat = MacsLatency(space)
    res = evolve(
        space,
        macs_fitness,
        Constraints(space, [LatencyBudget("cpu", lat)]),
        pareto=True,
        settings=EvolutionSettings(generations=6),
        seed=0,
    )
    front = res.front()
    pts = np.array([[-c.fitness, c.latency_ms["cpu"]] for c in front])
    allpts = np.array([[-c.fitness, c.latency_ms["cpu"]] for c in res.candidates])
    assert len(front) >= 10
    for p in pts:
        assert not any(dominates(q, p) for q in allpts)
    lats = pts[:, 1]
    assert list(lats) == sorted(lats)
    lo, hi = float(lat.predict([space.min_config()])[0]), float(lat.predict([space.max_config()])[0])
    assert lats[0] < lo + 0.2 * (hi - lo) and lats[-1] > hi - 0.3 * (hi - lo)  # spans the range
    assert res.history[-1].front_size == len(front)
    # better than as many random samples
    rand = space.sample_unique(len(res.candidates), np.random.default_rng(0))
    rpts = np.array([[-macs_fitness(c), y] for c, y in zip(rand, lat.predict(rand))])
    ref = np.maximum(allpts.max(axis=0), rpts.max(axis=0)) + 0.1
    assert _hypervolume(allpts, ref) > _hypervolume(rpts, ref)
