import pytest

from hwnas.core.errors import ConfigError
from hwnas.predictors import LatencyPredictor
from hwnas.predictors.selection import choose, compare, learning_curve, split


def test_split_sizes_and_minimum():
    train, test = split(100, 0.2, seed=0)
    assert len(train) == 80 and len(test) == 20 and not set(train) & set(test)
    with pytest.raises(ConfigError, match="at least 10"):
        split(9, 0.2, seed=0)


def test_compare_chooses_lowest_cv_mape(space, data):
    cfgs, y = data
    comp = compare(space, cfgs, y, families=["linear-macs", "additive", "ridge"], folds=3)
    assert comp.chosen == choose(comp.results)
    assert comp.chosen != "linear-macs"  # the per-layer structure beats MACs alone
    assert comp.n_train == 96 and comp.n_test == 24 and len(comp.test_pred[comp.chosen]) == 24
    assert all(r["predict_per_s"] > 0 and r["fit_s"] >= 0 for r in comp.results.values())


def test_learning_curve_sizes_and_trend(space, data):
    cfgs, y = data
    curves = learning_curve(space, cfgs, y, ["additive"], repeats=2)
    assert [p["n"] for p in curves["additive"]] == [10, 20, 50, 96]
    assert curves["additive"][-1]["mape"] < curves["additive"][0]["mape"] + 0.01


def test_predictor_fixed_family_and_metrics(space, data):
    cfgs, y = data
    pred = LatencyPredictor(space, device="cpu", family="ridge", folds=3).fit(cfgs, y)
    assert pred.family_ == "ridge" and pred.n_train_ == 120
    m = pred.metrics_
    assert m["p95_rel_err"] == max(m["holdout"]["p95_rel_err"], m["cv"]["p95_rel_err"])
    assert pred.predict(cfgs[:5]).shape == (5,)
    assert pred.predict(cfgs[0]).shape == (1,)


def _res(mape, rate):
    return {"cv": {"mape": mape}, "predict_per_s": rate}


def test_choose_prefers_accuracy_then_speed_among_ties():
    assert choose({"a": _res(0.05, 1e6), "b": _res(0.03, 1e6)}) == "b"
    # 0.030 vs 0.031 is a tie: the fast-enough family wins over the slow one
    assert choose({"slow": _res(0.030, 3e4), "quick": _res(0.031, 5e5)}) == "quick"
    # a clearly better slow family still wins
    assert choose({"slow": _res(0.020, 3e4), "quick": _res(0.031, 5e5)}) == "slow"
    # no tied family is fast enough: the fastest of them
    assert choose({"s1": _res(0.030, 1e4), "s2": _res(0.0301, 5e4)}) == "s2"
