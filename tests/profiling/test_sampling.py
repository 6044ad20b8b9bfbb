from hwnas.core import presets
from hwnas.profiling.sampling import plan


def test_plan_has_extremes_coverage_and_no_duplicates():
    space = presets.get("mnist-cpu")
    p = plan(space, 40, seed=3)
    keys = [c.key() for c in p]
    assert len(p) == 40 and len(set(keys)) == 40
    assert p[0] == space.min_config() and p[1] == space.max_config()
    assert {c.embed_dim for c in p} == set(space.embed_dim)
    assert {c.depth for c in p} == set(space.depth)
    assert {r for c in p for r in c.mlp_ratio} == set(space.mlp_ratio)
    assert {h for c in p for h in c.num_heads} == set(space.num_heads)
    assert all(space.in_choices(c) for c in p)


def test_plan_is_prefix_stable_and_seeded():
    space = presets.get("mnist-cpu")
    assert plan(space, 30, seed=1)[:12] == plan(space, 12, seed=1)
    assert plan(space, 30, seed=1) != plan(space, 30, seed=2)


def test_plan_stops_when_the_space_runs_out(tiny_space):
    p = plan(tiny_space, 10_000)  # the draw loop is capped: it ends, without duplicates
    assert len(p) == len({c.key() for c in p}) <= tiny_space.size()
    assert len(p) >= tiny_space.size() // 2
