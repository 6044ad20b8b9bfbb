"""Argument forms of `hwnas search` (no search is run)."""

from __future__ import annotations

import pytest

from hwnas.cli.main import build_parser
from hwnas.cli.search_cmd import budgets_of, settings_of
from hwnas.core import ConfigError, UnknownNameError


def _args(*argv: str):
    return build_parser().parse_args(["search", *argv])


def test_latency_device_pairs_in_order_and_budget_form():
    a = _args(
        "--latency-ms", "5", "--device", "cpu", "--latency-ms", "2", "--device", "gpu-trt", "--budget", "cpu-mt=3"
    )
    assert budgets_of(a) == [("cpu", 5.0), ("gpu-trt", 2.0), ("cpu-mt", 3.0)]
    assert budgets_of(_args("--pareto", "--device", "cpu")) == [("cpu", None)]
    assert budgets_of(_args("--budget", "cpu")) == [("cpu", None)]


@pytest.mark.parametrize(
    "argv, err",
    [
        (("--latency-ms", "5", "--latency-ms", "2", "--device", "cpu"), ConfigError),
        (("--budget", "cpu=5", "--device", "cpu"), ConfigError),
        (("--budget", "tpu=5"), UnknownNameError),
    ],
)
def test_bad_pairs_refused(argv, err):
    with pytest.raises(err):
        budgets_of(_args(*argv))


def test_param_range_and_settings():
    a = _args("--params-m", ",1.5", "--population", "20")
    assert a.params_m == (None, 1.5)
    s = settings_of(a)
    assert (s.population, s.parents, s.mutations, s.crossovers) == (20, 4, 10, 10)
    s = settings_of(_args())
    assert (s.population, s.generations, s.parents, s.mutations, s.crossovers) == (50, 20, 10, 25, 25)
    with pytest.raises(SystemExit):
        _args("--params-m", "1")
