"""search -> verify -> export: the wiring behind ``hwnas search``.

Loads the supernet checkpoint and the device predictors from the run folder (:mod:`.search_inputs`),
scores candidates on the validation split or a training-free proxy (:mod:`.fitness`), runs the
evolution, re-measures the winner on each budgeted device with the profiling protocol, falling back
to the next feasible candidate when it misses (:mod:`.verify`), and writes winner.yaml, winner.onnx,
report.json, report.md and pareto.png (:mod:`.search_report`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from hwnas.core.space import SearchSpace
from hwnas.pipelines.fitness import InheritedAccuracy, params_fitness, split_tensors
from hwnas.pipelines.search_inputs import (OBJECTIVES, SearchOptions, checkpoint_for, fit_missing_predictor,
                                           load_budgets, missing_predictor_message, require_devices)
from hwnas.pipelines.search_report import SearchReport, build_report, write_plot, write_report, write_winner
from hwnas.pipelines.verify import measure_candidate, verify
from hwnas.pipelines.workdir import RunDir
from hwnas.search import Constraints, GenerationStats, run_search

__all__ = ["search", "SearchOptions", "SearchReport", "OBJECTIVES", "checkpoint_for", "load_budgets",
           "fit_missing_predictor", "missing_predictor_message", "InheritedAccuracy", "params_fitness",
           "split_tensors", "measure_candidate", "verify"]


def search(run: RunDir, space: SearchSpace, opts: SearchOptions, *, checkpoint: str | Path | None = None,
           on_generation: Callable[[GenerationStats], None] | None = None,
           fit_missing: Callable[[str], None] | None = None,
           log: Callable[[str], None] = print) -> SearchReport:
    """Search, verify and write the results to ``run.search``; returns the report."""
    t0 = time.perf_counter()
    ckpt = checkpoint_for(run, checkpoint, opts.objective)
    if opts.measure:
        require_devices([d for d, _ in opts.budgets])
    budgets, dev_info = load_budgets(run, space, opts, fit_missing)
    constraints = Constraints(space, budgets, params_m=opts.params_m, macs_m=opts.macs_m)
    scorer = InheritedAccuracy(space, ckpt, opts.data) if opts.objective == "accuracy" and ckpt else None
    fitness = scorer.fitness("val", opts.subset) if scorer else params_fitness(space)
    t1 = time.perf_counter()
    result = run_search(space, fitness, constraints, settings=opts.settings, seed=opts.seed, pareto=opts.pareto,
                        on_generation=on_generation)
    t2 = time.perf_counter()
    ranked = result.ranked()
    if opts.measure and budgets:
        winner, attempts, note = verify(space, ranked, budgets, ckpt, opts.max_measured, log)
    else:
        winner, attempts, note = ranked[0], [], "not re-measured (no device, or measuring switched off)"
    t3 = time.perf_counter()
    report = build_report(space, opts, constraints, dev_info, result, winner, attempts, note,
                          {"setup_s": t1 - t0, "search_s": t2 - t1, "verify_s": t3 - t2})
    if report.winner is not None and winner is not None:
        report.winner["test_top1"] = scorer.fitness("test")(winner.config) if scorer else None
    out = run.search
    out.mkdir(parents=True, exist_ok=True)
    files = write_winner(out, space, winner, ckpt, opts.export)
    files["pareto_png"] = write_plot(out, result, report, opts)
    files.update(report_json=str(out / "report.json"), report_md=str(out / "report.md"))
    report.files = files
    report.timing["total_s"] = time.perf_counter() - t0
    write_report(out, report)
    return report
