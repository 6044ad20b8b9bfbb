from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwnas.core import ConfigError, InfeasibleError, SubnetConfig
from hwnas.search import Constraints, LatencyBudget, fastest, run_search

from .conftest import MacsLatency, size_fitness


def test_margin_lowers_the_limit(space):
    b = LatencyBudget("cpu", MacsLatency(space), 5.0, margin=0.08)
    assert b.limit_ms == pytest.approx(4.6)
    assert LatencyBudget("cpu", MacsLatency(space)).limit_ms is None


@pytest.mark.parametrize("kw", [dict(budget_ms=-1.0), dict(budget_ms=float("nan")), dict(budget_ms=2.0, margin=0.7)])
def test_bad_budgets_refused(space, kw):
    with pytest.raises(ConfigError):
        LatencyBudget("cpu", MacsLatency(space), **kw)


def test_bad_constraints_refused(space):
    lat = MacsLatency(space)
    with pytest.raises(ConfigError):
        Constraints(space, [LatencyBudget("cpu", lat, 1.0), LatencyBudget("cpu", lat, 2.0)])
    with pytest.raises(ConfigError):
        Constraints(space, params_m=(2.0, 1.0))


def test_assessment_and_cache(space):
    lat = MacsLatency(space)
    con = Constraints(space, [LatencyBudget("cpu", lat, 1.5)], params_m=(0.3, None))
    small, big = space.min_config(), space.max_config()
    a_small, a_big = con.assess([small, big])
    assert not a_small.feasible and a_small.violation > 0  # 0.27 M params < 0.3 M
    assert not a_big.feasible and a_big.latency_ms["cpu"] > 1.5
    con.assess([small, big, small])
    assert lat.calls == 1


def test_wrong_predictor_output_refused(space):
    class Broken:
        def predict(self, configs):
            return np.ones(len(configs) + 1)

    with pytest.raises(ConfigError, match="predictor of cpu"):
        Constraints(space, [LatencyBudget("cpu", Broken(), 2.0)]).assess([space.min_config()])


def _brute_fastest(space, lat):
    cfgs = [
        SubnetConfig(96, 4, m, h)
        for m in itertools.product((2.0,), repeat=4)
        for h in itertools.product(space.num_heads, repeat=4)
    ]
    y = lat.predict(cfgs)
    return float(y.min())


def test_fastest_is_found_by_search_not_min_config(space):
    lat = MacsLatency(space, slow_two_heads=0.3)  # two heads are slow: min_config is not the fastest
    cfg, ms = fastest(space, LatencyBudget("cpu", lat, 1.0))
    assert ms < float(lat.predict([space.min_config()])[0])
    assert ms == pytest.approx(_brute_fastest(space, lat))


def test_infeasible_budget_is_one_line(space):
    lat = MacsLatency(space, slow_two_heads=0.3)
    con = Constraints(space, [LatencyBudget("cpu", lat, 0.5, margin=0.1)])
    with pytest.raises(InfeasibleError) as e:
        run_search(space, size_fitness, con, seed=0)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("no subnet of mnist-cpu is predicted under 0.5 ms on cpu")
    assert f"the fastest is {_brute_fastest(space, lat):.3g} ms (config e96-d4-" in msg


def test_infeasible_params_range_explained(space):
    with pytest.raises(InfeasibleError, match="parameters; the space spans 0.273-3.210 M"):
        run_search(space, size_fitness, Constraints(space, params_m=(5.0, 6.0)), seed=0)


def test_jointly_infeasible_devices_explained(space):
    # cpu wants under ~24 M MACs, this odd "gpu" over ~70 M: each budget alone is feasible
    cpu, gpu = MacsLatency(space), MacsLatency(space, scale=-0.01, offset=3.0)
    con = Constraints(space, [LatencyBudget("cpu", cpu, 1.23), LatencyBudget("gpu", gpu, 2.3)])
    with pytest.raises(InfeasibleError, match="meets all constraints at once .* the closest, e"):
        run_search(space, size_fitness, con, seed=0)


class Scaled:
    """A latency model: another model's prediction times a factor (a faster deployed form, say)."""

    def __init__(self, base: MacsLatency, factor: float) -> None:
        self.base, self.factor = base, factor

    def predict(self, configs):  # noqa: ANN001, ANN201
        return np.asarray(self.base.predict(configs)) * self.factor


def test_budgets_of_one_group_are_alternatives(space):
    lat = MacsLatency(space)
    big = space.max_config()
    fp32 = float(lat.predict([big])[0])
    budget = 0.8 * fp32  # the FP32 form misses it; an INT8 form at 0.6x meets it
    alone = Constraints(space, [LatencyBudget("cpu", lat, budget)])
    forms = Constraints(
        space,
        [
            LatencyBudget("cpu", lat, budget, group="cpu"),
            LatencyBudget("cpu-int8", Scaled(lat, 0.6), budget, group="cpu"),
        ],
    )
    both = Constraints(space, [LatencyBudget("cpu", lat, budget), LatencyBudget("cpu-int8", Scaled(lat, 0.6), budget)])
    assert not alone.assess([big])[0].feasible and not both.assess([big])[0].feasible
    a = forms.assess([big])[0]
    assert a.feasible and a.within == ("cpu-int8",)
    slow = Constraints(
        space, [LatencyBudget("a", lat, budget, group="g"), LatencyBudget("b", Scaled(lat, 2.0), budget, group="g")]
    )
    v = slow.assess([big])[0].violation
    assert v == pytest.approx(fp32 / budget - 1.0)  # the group's violation is its best member's
