"""A search's typed result, and the files it publishes: winner.yaml, winner.onnx, pareto.png,
report.json (the result as data) and report.md (the result for people)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwnas.core.atomic import atomic_write_text
from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import save_subnet
from hwnas.pipelines.search_inputs import OBJECTIVES, SearchOptions
from hwnas.present import markdown_table
from hwnas.search import Candidate, Constraints, SearchResult
from hwnas.search.report import front_rows, plot_front

# The set a search publishes at once (see hwnas.core.publish): a new search replaces all of it.
SEARCH_FILES = ("winner.yaml", "winner.onnx", "pareto.png", "report.json", "report.md")


@dataclass
class SearchReport:
    """What ``hwnas search`` found; ``to_dict()`` is report.json. ``winner``, ``verification`` and
    ``front`` hold plain data (as written to the report) so that one serialisation serves all readers."""

    space: str
    space_digest: str
    objective: str
    objective_note: str
    seed: int
    pareto: bool
    settings: dict[str, Any]
    subset: int | None
    precision: str | None  # arithmetic of the accuracy scores: fp32 or bf16 (None: no accuracy objective)
    constraints: list[str]
    devices: list[dict[str, Any]]  # per device: budget, predictor, p95 error, margin, limit
    evaluated: int  # candidates scored
    winner: dict[str, Any] | None  # None: no candidate met every budget when measured
    verification: list[dict[str, Any]]  # the candidates re-measured, best first
    verification_note: str
    front: list[dict[str, Any]]
    history: list[dict[str, Any]]
    timing: dict[str, float]
    files: dict[str, str] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)  # finalists compared paired (accuracy objective)
    extremes: list[dict[str, Any]] = field(default_factory=list)  # the smallest and largest subnet, scored

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_report(
    space: SearchSpace,
    opts: SearchOptions,
    constraints: Constraints,
    dev_info: list[dict],
    result: SearchResult,
    winner: Candidate | None,
    attempts: list[dict],
    note: str,
    timing: dict[str, float],
) -> SearchReport:
    w = None
    if winner is not None:
        measured: dict[str, Any] = next((a["latency"] for a in attempts if a["key"] == winner.key), {})
        w = {
            **winner.to_dict(),
            "config": winner.config.to_dict(),
            "retrain": winner.config.to_retrain(),
            "val_top1": winner.fitness if opts.objective == "accuracy" else None,
            "latency": measured or {d: {"budget_ms": b, "predicted_ms": winner.latency_ms[d]} for d, b in opts.budgets},
        }
    return SearchReport(
        space=space.name,
        space_digest=space.digest(),
        objective=opts.objective,
        objective_note=OBJECTIVES[opts.objective],
        seed=opts.seed,
        pareto=opts.pareto,
        settings=asdict(opts.settings),
        subset=opts.subset,
        precision=opts.precision if opts.objective == "accuracy" else None,
        constraints=constraints.describe(),
        devices=dev_info,
        evaluated=len(result.candidates),
        winner=w,
        verification=attempts,
        verification_note=note,
        front=front_rows(result) if opts.pareto else [],
        history=[asdict(h) for h in result.history],
        timing=timing,
    )


def write_winner(
    out: Path, space: SearchSpace, winner: Candidate | None, ckpt: Path | None, export: bool
) -> dict[str, str]:
    """winner.yaml (and winner.onnx); an earlier search's winner is never left behind."""
    for stale in ("winner.yaml", "winner.onnx"):
        (out / stale).unlink(missing_ok=True)
    if winner is None:
        return {}
    save_subnet(winner.config, out / "winner.yaml", space)
    files = {"winner_yaml": str(out / "winner.yaml")}
    if export:
        from hwnas.pipelines.export import export_subnet

        files["winner_onnx"] = str(export_subnet(winner.config, out / "winner.onnx", space=space, checkpoint=ckpt).path)
    return files


def write_plot(out: Path, result: SearchResult, report: SearchReport, opts: SearchOptions) -> str:
    w = report.winner
    budgets = {d: b for d, b in opts.budgets if b is not None}
    limits = {d["device"]: d["limit_ms"] for d in report.devices if d["limit_ms"] is not None}
    return str(
        plot_front(
            result,
            out / "pareto.png",
            winner=w["key"] if w else None,
            budgets=budgets,
            limits=limits,
            fitness_label="validation top-1 (%)" if opts.objective == "accuracy" else "parameters (M)",
        )
    )


def write_report(out: Path, report: SearchReport) -> None:
    """report.md and report.json, each written atomically."""
    atomic_write_text(out / "report.md", render_markdown(report))
    atomic_write_text(out / "report.json", json.dumps(report.to_dict(), indent=2, default=str) + "\n")


def render_markdown(report: SearchReport) -> str:
    """The report for people: constraints, the winner predicted vs measured, what verification did."""
    w = report.winner or {}
    lines = [
        f"# hwnas search on {report.space}",
        "",
        f"- objective: {report.objective} ({report.objective_note})",
        f"- constraints: {'; '.join(report.constraints) or 'none'}",
        f"- {report.evaluated} candidates scored in {report.timing['search_s']:.1f} s "
        f"(seed {report.seed}, {'Pareto' if report.pareto else 'single-objective'} mode)",
        "",
    ]
    if w:
        lines += [
            "## Winner",
            "",
            f"`{w['key']}`: {w['params'] / 1e6:.3f} M params, {w['macs'] / 1e6:.1f} M MACs, "
            f"validation top-1 {_pct(w.get('val_top1'))}, test top-1 {_pct(w.get('test_top1'))}",
            "",
        ]
        rows = [{"device": d, **m} for d, m in w.get("latency", {}).items()]
        lines += [
            markdown_table(
                rows, ["device", "budget_ms", "predicted_ms", "measured_ms", "typical_ms", "spread", "within_budget"]
            )
        ]
        lines += ["", f"Verification: {report.verification_note}", ""]
    if report.accuracy.get("finalists"):
        acc = report.accuracy
        rows = [
            {
                **r,
                "top1": f"{r['top1']:.2f}",
                "95% CI": f"{r['ci_low']:.1f}-{r['ci_high']:.1f}",
                "best - this": f"{r['diff_vs_best']:+.2f} ({r['diff_ci_low']:+.1f} to {r['diff_ci_high']:+.1f})",
                "p vs best": f"{r['p_vs_best']:.3f}",
            }
            for r in acc["finalists"]
        ]
        lines += [
            f"## Accuracy of the finalists ({acc['images']} {acc['split']} images, paired; {report.precision} scores)",
            "",
            markdown_table(rows, ["key", "top1", "95% CI", "best - this", "p vs best", "distinguishable"]),
            "",
            acc["note"],
            "",
        ]
    if report.extremes:
        rows = [
            {
                "subnet": e["subnet"],
                "key": e["key"],
                "val top-1": _pct(e["val_top1"]),
                "test top-1": _pct(e["test_top1"]),
                **{f"{d} predicted ms": f"{v:.3f}" for d, v in e["predicted_ms"].items()},
            }
            for e in report.extremes
        ]
        lines += ["## The space's extremes, for comparison", "", markdown_table(rows, list(rows[0])), ""]
    if report.verification:
        lines += [
            "## Candidates measured",
            "",
            markdown_table(report.verification, ["rank", "key", "fitness", "outcome"]),
            "",
        ]
    if report.front:
        lines += ["## Pareto front (predicted latency)", "", markdown_table(report.front, list(report.front[0])), ""]
    lines += [
        "## Search history",
        "",
        markdown_table(report.history, ["generation", "evaluated", "rejected", "best_fitness", "best_key"]),
    ]
    return "\n".join(lines) + "\n"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} %"
