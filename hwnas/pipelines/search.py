"""search -> verify -> export: the wiring behind ``hwnas search``.

Loads the supernet checkpoint and the device predictors from the run folder (:mod:`.search_inputs`),
scores candidates on the validation split or a training-free proxy (:mod:`.fitness`), runs the
evolution, re-measures the winner on each budgeted device with the profiling protocol, falling back
to the next feasible candidate when it misses (:mod:`.verify`), and writes winner.yaml, winner.onnx,
report.json, report.md and pareto.png (:mod:`.search_report`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from hwnas.core.publish import check_writable, publish
from hwnas.core.space import SearchSpace
from hwnas.pipelines.deployed_choice import changes_numbers
from hwnas.pipelines.finalists import check_finalists
from hwnas.pipelines.fitness import InheritedAccuracy, params_fitness, score_precision, split_tensors
from hwnas.pipelines.model_card import write_search_card
from hwnas.pipelines.search_inputs import (
    OBJECTIVES,
    SearchOptions,
    checkpoint_for,
    fit_missing_predictor,
    load_budgets,
    missing_predictor_message,
    require_devices,
)
from hwnas.pipelines.search_report import (
    SEARCH_FILES,
    SearchReport,
    Winner,
    build_report,
    winner_of,
    write_plot,
    write_report,
    write_winner,
)
from hwnas.pipelines.verify import Verification, measure_candidate, verify
from hwnas.pipelines.workdir import RunDir
from hwnas.search import Candidate, Constraints, GenerationStats, LatencyBudget, run_search

if TYPE_CHECKING:
    from hwnas.devices import Device, Devices
    from hwnas.pipelines.deployed_choice import DeployedCheck
    from hwnas.profiling.measurer import Measurer


def extremes(
    space: SearchSpace, budgets: list[LatencyBudget], scorer: InheritedAccuracy | None, subset: int | None
) -> list[dict]:
    """The smallest and the largest subnet of the space, scored like the candidates: what the search
    had to choose between, so a reader sees what it bought."""
    rows = []
    for name, cfg in (("smallest", space.min_config()), ("largest", space.max_config())):
        row = {
            "subnet": name,
            "key": cfg.key(),
            "val_top1": scorer.top1(cfg, "val", subset) if scorer else None,
            "test_top1": scorer.top1(cfg, "test") if scorer else None,
            "predicted_ms": {b.device: float(b.predictor.predict([cfg])[0]) for b in budgets},
        }
        rows.append(row)
    return rows


def process_rank() -> int:
    """This process's rank under torchrun (0 otherwise); torch is only imported when one runs."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0
    from hwnas.supernet.distributed import this_process

    return this_process()[0]


def broadcast_from_main(value: object) -> object:
    """Rank 0's ``value`` on every process under torchrun; ``value`` itself otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return value
    from hwnas.supernet.distributed import broadcast_from_main as broadcast

    return broadcast(value)


__all__ = [
    "search",
    "SearchOptions",
    "SearchReport",
    "Verification",
    "Winner",
    "OBJECTIVES",
    "checkpoint_for",
    "load_budgets",
    "fit_missing_predictor",
    "missing_predictor_message",
    "InheritedAccuracy",
    "params_fitness",
    "split_tensors",
    "measure_candidate",
    "verify",
]


def search(
    run: RunDir,
    space: SearchSpace,
    opts: SearchOptions,
    *,
    checkpoint: str | Path | None = None,
    on_generation: Callable[[GenerationStats], None] | None = None,
    fit_missing: Callable[[str], None] | None = None,
    log: Callable[[str], None] = print,
    measurers: Mapping[str, Sequence[Measurer]] | None = None,
    devices: Devices | None = None,
) -> SearchReport:
    """Search, verify and write the results to ``run.search``; returns the report. ``measurers``: where
    each device's winner is re-measured (None, or a device without any: this machine); ``devices``: where
    the device names are defined (None: the default devices file). ``opts`` is left as given: the report
    records the settings that ran (the precision and the images scored)."""
    from hwnas.devices import Devices

    devices = devices or Devices.default()
    t0 = time.perf_counter()
    check_writable(run.root)  # refuse a read-only run folder before any work
    ckpt = checkpoint_for(run, checkpoint, opts.objective)
    if opts.measure:
        require_devices([d for d, _ in opts.budgets], measurers, devices)
    budgets, dev_info = load_budgets(run, space, opts, fit_missing)
    constraints = Constraints(space, budgets, params_m=opts.params_m, macs_m=opts.macs_m)
    opts = replace(opts, precision=score_precision(opts.precision))
    scorer = None
    if opts.objective == "accuracy" and ckpt:
        scorer = InheritedAccuracy(space, ckpt, opts.data, precision=opts.precision)
    if scorer and opts.subset:  # the images actually used, not the number asked for
        opts = replace(opts, subset=scorer.images("val", opts.subset))
    fitness = scorer.fitness("val", opts.subset) if scorer else params_fitness(space)
    main = process_rank() == 0  # under torchrun every process scores its share; only rank 0 measures and writes
    t1 = time.perf_counter()
    result = run_search(
        space,
        fitness,
        constraints,
        settings=opts.settings,
        seed=opts.seed,
        pareto=opts.pareto,
        on_generation=on_generation if main else None,
    )
    t2 = time.perf_counter()
    ranked, accuracy = result.ranked(), None
    if scorer is not None and ranked:
        ranked, accuracy = check_finalists(
            ranked,
            lambda cfg: scorer.hits(cfg, "val", opts.subset),
            scorer.images("val", opts.subset),
            opts.tie_tolerance,
        )
    shipped: dict[str, str] = {}  # key -> the deployed form (device) a finalist ships in
    deployed = None
    if (
        scorer is not None
        and ranked
        and main
        and any(b.group or changes_numbers(devices.get(b.device)) for b in budgets)
    ):
        ranked, shipped, deployed = _deployed_finalists(space, ranked, constraints, budgets, ckpt, opts, devices, log)
    if not main:
        verified = Verification(None, [], "")
    elif opts.measure and budgets:
        verified = verify(
            space, ranked, budgets, ckpt, opts.max_measured, log, measurers=measurers, shipped=shipped, devices=devices
        )
    else:
        verified = Verification(ranked[0], [], "not re-measured (no device, or measuring switched off)")
    winner_key = broadcast_from_main(None if verified.winner is None else verified.winner.key)
    winner = next((c for c in ranked if c.key == winner_key), None)
    t3 = time.perf_counter()
    test_top1 = scorer.top1(winner.config, "test") if scorer and winner else None
    form = _winner_form(winner, budgets, shipped, devices)
    deployed_report = deployed.to_dict() if deployed else {}
    if deployed is not None and winner is not None and form is not None:
        deployed_report["winner"] = _deployed_test(space, winner, devices.get(form), ckpt, opts)
    report = build_report(
        space,
        opts,
        constraints,
        dev_info,
        result,
        winner_of(winner, verified.attempts, opts, test_top1),
        verified,
        {"setup_s": t1 - t0, "search_s": t2 - t1, "verify_s": t3 - t2},
        accuracy.to_dict() if accuracy else {},
        extremes(space, budgets, scorer, opts.subset),
        deployed_report,
    )
    if not main:
        return report
    out = run.search
    with publish(out, SEARCH_FILES) as stage:  # the whole set or none of it
        files = write_winner(stage, space, winner, ckpt, opts.export, devices.get(form) if form else None, opts.data)
        files["pareto_png"] = write_plot(stage, result, report, opts)
        report = replace(
            report,
            files={
                **{k: str(out / Path(v).name) for k, v in files.items()},
                "report_json": str(out / "report.json"),
                "report_md": str(out / "report.md"),
            },
            timing={**report.timing, "total_s": time.perf_counter() - t0},
        )
        write_report(stage, report)
        write_search_card(stage, opts.data, devices)  # MODEL.md, from the report just written
    return report


def _deployed_finalists(
    space: SearchSpace,
    ranked: list[Candidate],
    constraints: Constraints,
    budgets: list[LatencyBudget],
    ckpt: Path | None,
    opts: SearchOptions,
    devices: Devices,
    log: Callable[[str], None],
) -> tuple[list[Candidate], dict[str, str], DeployedCheck]:
    """The finalists ranked by their top-1 as their devices run them (:mod:`.deployed_choice`): among the
    deployed forms of a group (--precisions), or on every device whose precision changes the numbers."""
    from hwnas.pipelines.deployed import DeployedScorer
    from hwnas.pipelines.deployed_choice import FormScorer, deployed_finalists

    grouped = [b for b in budgets if b.group]
    forms = grouped or [b for b in budgets if changes_numbers(devices.get(b.device))]
    defined = {b.device: devices.get(b.device) for b in forms}
    scorer = FormScorer(
        defined, lambda d: DeployedScorer(d, ckpt, space=space, data=opts.data, seed=opts.seed, subset=opts.subset)
    )
    log(f"scoring the finalists as deployed on {', '.join(defined)}")
    return deployed_finalists(
        ranked, lambda c: constraints.assess([c.config])[0].within, forms, scorer, alternatives=bool(grouped), log=log
    )


def _winner_form(
    winner: Candidate | None, budgets: list[LatencyBudget], shipped: dict[str, str], devices: Devices
) -> str | None:
    """The device whose deployed form the winner ships in: its chosen form, else the one INT8 device."""
    if winner is None:
        return None
    if winner.key in shipped:
        return shipped[winner.key]
    quantized = [b.device for b in budgets if changes_numbers(devices.get(b.device))]
    return quantized[0] if len(quantized) == 1 else None


def _deployed_test(
    space: SearchSpace, winner: Candidate, device: Device, ckpt: Path | None, opts: SearchOptions
) -> dict[str, object]:
    """The winner's FP32 and deployed top-1 on the test images, in the form it ships in."""
    from hwnas.pipelines.deployed import DeployedScorer

    test = DeployedScorer(device, ckpt, space=space, data=opts.data, split="test", seed=opts.seed).score(winner.config)
    return {
        "key": winner.key,
        "device": device.name,
        "precision": test.precision,
        "test_images": test.n,
        "fp32_test_top1": test.fp32_top1,
        "deployed_test_top1": test.deployed_top1,
        "test_drop": test.drop,
        "agreement": test.agreement,
        "mcnemar_p": test.mcnemar_p,
    }
