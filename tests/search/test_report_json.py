"""report.json is read by users and tests: its keys and values stay as they were written before the
results became typed (data/report_before.json, written by the dict-based search on this tiny run), and a
search leaves the options it was given as they were."""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hwnas.core import get_space
from hwnas.pipelines.workdir import RunDir

BEFORE = Path(__file__).parent / "data" / "report_before.json"
PREDICTOR = Path(__file__).parent / "data" / "report_predictor.json"  # the run's: not refitted, so fixed


def scripted_measure(
    device: str, space: Any, c: Any, checkpoint: Any, measurers: Any = None, devices: Any = None
) -> list[Any]:
    """The best candidate misses its budget (median 4.5 ms, 4.1 at typical speed), the next meets it.
    The ladder ran 10 % slow, so each visit has a figure at the host's typical speed."""
    scripted_measure.calls += 1  # type: ignore[attr-defined]
    figures = [2.9, 4.5, 4.6] if scripted_measure.calls == 1 else [3.5, 2.0, 1.9]  # type: ignore[attr-defined]
    return [
        SimpleNamespace(status="ok", latency_ms=ms, spread=0.01 * i, refs_ms=[1.1, 4.4], base_ms=[1.0, 4.0])
        for i, ms in enumerate(figures, 1)
    ]


CASES = {
    # a Pareto search for accuracy with a paired finalist check and a fallback in verification
    "measured": dict(pareto=True, tie_tolerance=0.5, precision="fp32"),
    # training-free, predicted latency only: the winner's latency holds the budget and the prediction
    "unmeasured": dict(objective="params", measure=False),
}


def tiny_search(
    run_dir: RunDir, root: Path, monkeypatch: pytest.MonkeyPatch, case: str = "measured"
) -> tuple[Any, Any, dict]:
    """One of :data:`CASES` on the tiny run folder, with :func:`scripted_measure` for measurements."""
    import hwnas.pipelines.verify as verify
    from hwnas.pipelines.search import SearchOptions, search
    from hwnas.pipelines.search_inputs import evolution_settings

    scripted_measure.calls = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(verify, "_measure", scripted_measure)
    (root / "predictors").mkdir(parents=True)
    shutil.copy(PREDICTOR, root / "predictors" / "cpu.json")
    opts = SearchOptions(
        budgets=[("cpu", 3.0)],
        subset=20,
        settings=evolution_settings(4, 2),
        margin=0.15,
        export=False,
        **CASES[case],  # type: ignore[arg-type]
    )
    report = search(RunDir(root), get_space("mnist-cpu"), opts, checkpoint=run_dir.supernet, log=lambda _: None)
    return opts, report, json.loads((root / "search" / "report.json").read_text())


def comparable(report: dict) -> dict:
    """The report without what differs between any two runs: seconds (their names stay) and the folder."""
    return {
        **report,
        "timing": sorted(report["timing"]),
        "files": {k: Path(v).name for k, v in report["files"].items()},
        "devices": [{**d, "predictor": Path(d["predictor"]).name} for d in report["devices"]],
    }


def assert_same(got: Any, want: Any, where: str = "report") -> None:
    """Equal keys and values, floats to 1e-9 relative (scores and predictions are computed again)."""
    assert type(got) is type(want) or {type(got), type(want)} <= {int, float}, f"{where}: {got!r} != {want!r}"
    if isinstance(want, dict):
        assert list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), f"{where}: {len(got)} items != {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not math.isnan(want):
        assert got == pytest.approx(want, rel=1e-9), f"{where}: {got!r} != {want!r}"
    else:
        assert got == want or (got != got and want != want), f"{where}: {got!r} != {want!r}"


@pytest.mark.parametrize("case", CASES)
def test_report_json_is_what_it_was_before_the_results_were_typed(run_dir, tmp_path, monkeypatch, case):
    opts, report, written = tiny_search(run_dir, tmp_path / "run", monkeypatch, case)
    assert_same(comparable(written), json.loads(BEFORE.read_text())[case])
    assert written["winner"]["latency"]["cpu"]["predicted_ms"] > 0
    assert_same(json.loads(json.dumps(report.to_dict(), default=str)), written)  # the file is to_dict()


def test_search_leaves_its_options_as_given(run_dir, tmp_path, monkeypatch):
    from hwnas.pipelines.search import SearchOptions, search
    from hwnas.pipelines.search_inputs import evolution_settings

    given = SearchOptions(
        budgets=[("cpu", 3.0)], subset=10_000, settings=evolution_settings(4, 1), margin=0.15, measure=False
    )
    kept = copy.deepcopy(given)
    shutil.copytree(run_dir.root / "predictors", tmp_path / "predictors")
    report = search(RunDir(tmp_path), get_space("mnist-cpu"), given, checkpoint=run_dir.supernet, log=lambda _: None)
    assert given == kept
    assert report.subset < 10_000 and report.precision in ("fp32", "bf16")  # what ran is in the report
