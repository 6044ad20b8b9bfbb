"""`hwnas search` end to end on a tiny setting: real predictor (fitted on latencies measured on a CPU
like this one), real checkpoint (an untrained supernet), real re-measurement and ONNX export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from hwnas.cli.main import main
from hwnas.core import get_space
from hwnas.core.yaml_io import load_subnet
from hwnas.pipelines.workdir import RunDir

DATA = Path(__file__).parent / "data" / "cpu_latency_mnist.json"
TINY = ["--population", "4", "--generations", "2", "--subset", "20", "--seed", "0"]


def test_search_verifies_and_writes_everything(run_dir, capsys, monkeypatch):
    # 40 records make a rough predictor (p95 error well above 50 %): an explicit margin stands in.
    # Re-measurement is scripted (the protocol itself is tested in tests/profiling): the best candidate
    # misses the budget on the median of its visits (one visit alone would pass), the next one meets it
    # (one visit alone would miss), so the fallback, the winner and the median are checked every run.
    import hwnas.pipelines.profile as profile

    calls: list[str] = []

    def measure(device, space, cfg, visits, checkpoint=None, seed=0, with_ladder=True, measurers=None):
        calls.append(cfg.key())
        figures = [2.9, 4.5, 4.6] if len(calls) == 1 else [3.5, 2.0, 1.9]  # first visits: pass, miss
        assert visits == len(figures)
        return [SimpleNamespace(status="ok", latency_ms=ms, spread=0.01, refs_ms=[], base_ms=[]) for ms in figures]

    monkeypatch.setattr(profile, "measure_visits", measure)
    rc = main(
        ["search", "--latency-ms", "3", "--device", "cpu", "--margin", "0.15", "--precision", "fp32"]
        + ["--workdir", str(run_dir.root), *TINY]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    report = json.loads((run_dir.search / "report.json").read_text())
    assert report["objective"] == "accuracy" and report["evaluated"] <= 8
    assert [h["generation"] for h in report["history"]] == [0, 1]
    assert [a["outcome"].split(":")[0] for a in report["verification"]] == ["missed", "within budget"]
    first = report["verification"][0]["latency"]["cpu"]
    assert first["measured_ms"] == 4.5 and first["predicted_ms"] <= 3 * (1 - report["devices"][0]["margin"])
    assert report["devices"][0]["margin"] == 0.15
    w = report["winner"]
    assert w["key"] == calls[1] == report["verification"][1]["key"] != calls[0]
    assert w["latency"]["cpu"]["measured_ms"] == 2.0 and w["latency"]["cpu"]["within_budget"]
    assert 0 <= w["val_top1"] <= 100 and 0 <= w["test_top1"] <= 100
    cfg = load_subnet(run_dir.search / "winner.yaml")
    assert cfg.key() == w["key"]
    assert "SUPERNET" in yaml.safe_load((run_dir.search / "winner.yaml").read_text())
    assert (run_dir.search / "winner.onnx").stat().st_size > 10_000
    assert "winner" in out.out and w["key"] in out.out and "(fp32 scores)" in out.out
    assert report["precision"] == "fp32" and "fp32 scores" in (run_dir.search / "report.md").read_text()
    assert (run_dir.search / "pareto.png").stat().st_size > 1000
    assert "Verification" in (run_dir.search / "report.md").read_text()
    assert re.search(r"generation 2/2: best top-1 \d+\.\d \(", out.err)  # plain lines off a terminal; 95.0, not 95


def _with_p95(run_dir: RunDir, root: Path, p95: float) -> RunDir:
    """A run folder whose cpu predictor claims a p95 relative error of ``p95``."""
    d = json.loads(run_dir.predictor("cpu").read_text())
    d["metrics"]["p95_rel_err"] = p95
    rd = RunDir(root)
    rd.predictor("cpu").parent.mkdir(parents=True)
    rd.predictor("cpu").write_text(json.dumps(d))
    return rd


def test_margin_is_the_predictors_p95_error(run_dir, tmp_path):
    from hwnas.core import ConfigError
    from hwnas.pipelines.search import SearchOptions, load_budgets

    space = get_space("mnist-cpu")
    opts = SearchOptions(budgets=[("cpu", 3.0)])
    assert load_budgets(_with_p95(run_dir, tmp_path / "a", 0.2), space, opts)[0][0].margin == 0.2
    too_rough = _with_p95(run_dir, tmp_path / "b", 0.7)
    with pytest.raises(ConfigError, match="cpu latency predictor's p95 relative error is 70.0%"):
        load_budgets(too_rough, space, opts)
    assert load_budgets(too_rough, space, SearchOptions(budgets=[("cpu", None)]))[0][0].limit_ms is None


def test_infeasible_budget_is_one_line_exit_2(run_dir, capsys):
    rc = main(
        ["search", "--latency-ms", "0.05", "--device", "cpu", "--margin", "0.1", "--workdir", str(run_dir.root), *TINY]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert "no subnet of mnist-cpu is predicted under 0.05 ms on cpu" in err and "the fastest is" in err


def test_refuses_without_checkpoint_unless_training_free(tmp_path, run_dir, capsys):
    rd = RunDir(tmp_path)
    (tmp_path / "predictors").mkdir()
    (tmp_path / "predictors" / "cpu.json").write_text(run_dir.predictor("cpu").read_text())
    args = ["search", "--budget", "cpu=4", "--margin", "0.1", "--workdir", str(tmp_path), *TINY]
    assert main(args) == 2
    assert "--objective params" in capsys.readouterr().err
    rc = main(args + ["--objective", "params", "--pareto", "--no-measure", "--no-onnx"])
    out = capsys.readouterr().out
    report = json.loads((rd.search / "report.json").read_text())
    assert rc == 0 and report["front"] and "Pareto front" in out
    assert report["winner"]["val_top1"] is None
    assert report["winner"]["fitness"] == max(c["fitness"] for c in report["front"])


def test_verification_judges_the_budget_at_the_hosts_typical_speed(monkeypatch):
    # The measurement is scripted (the protocol and the ladder are tested in tests/profiling): the plain
    # figure 3.3 ms misses a 3.1 ms budget, but its batch's ladder ran 10 % slow against the host's quiet
    # one, so at the host's typical speed it is 3.0 ms and meets it.
    import hwnas.pipelines.profile as profile
    from hwnas.core.config import SubnetConfig
    from hwnas.pipelines.verify import measure_candidate
    from hwnas.search import Candidate, LatencyBudget

    def measure(device, space, cfg, visits, checkpoint=None, seed=0, with_ladder=True, measurers=None):
        assert with_ladder and measurers is None  # beside the ladder, on this machine
        rec = SimpleNamespace(status="ok", latency_ms=3.3, spread=0.01, refs_ms=[1.1, 4.4], base_ms=[1.0, 4.0])
        return [rec] * visits

    monkeypatch.setattr(profile, "measure_visits", measure)
    space = get_space("mnist-cpu")
    cand = Candidate(SubnetConfig.from_key(space.min_config().key()), 0.9, {"cpu": 2.9}, 1, 1, 0, "seed")
    m = measure_candidate(space, cand, [LatencyBudget("cpu", None, 3.1)], None)["cpu"]  # type: ignore[arg-type]
    assert m.measured_ms == 3.3 and m.typical_ms == pytest.approx(3.0) and m.within_budget
    monkeypatch.setattr(
        profile,
        "measure_visits",
        lambda *a, **k: [SimpleNamespace(status="ok", latency_ms=3.3, spread=0.0, refs_ms=[], base_ms=[])] * 3,
    )
    m = measure_candidate(space, cand, [LatencyBudget("cpu", None, 3.1)], None)["cpu"]  # type: ignore[arg-type]
    assert m.typical_ms is None and m.within_budget is False  # no ladder: the plain figure decides
