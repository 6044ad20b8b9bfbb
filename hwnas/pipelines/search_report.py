"""A search's typed result, and the files it publishes: winner.yaml, winner.onnx, pareto.png,
report.json (the result as data) and report.md (the result for people)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwnas.core.atomic import atomic_write_text
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import save_subnet
from hwnas.pipelines.search_inputs import OBJECTIVES, SearchOptions
from hwnas.pipelines.verify import Attempt, DeviceMeasurement, PredictedLatency, Verification
from hwnas.present import markdown_table
from hwnas.search import Candidate, Constraints, SearchResult
from hwnas.search.report import front_rows, plot_front

if TYPE_CHECKING:
    from hwnas.devices import Device

# The set a search publishes at once (see hwnas.core.publish): a new search replaces all of it.
SEARCH_FILES = ("winner.yaml", "winner.onnx", "winner.fp32.onnx", "pareto.png", "report.json", "report.md")


@dataclass(frozen=True)
class Winner:
    """The subnet a search chose; ``latency`` per budgeted device: a :class:`DeviceMeasurement` when it
    was re-measured, else the budget and the prediction alone. ``to_dict()`` is report.json's winner."""

    candidate: Candidate
    val_top1: float | None  # None: not searched for accuracy
    test_top1: float | None
    latency: dict[str, PredictedLatency]

    @property
    def key(self) -> str:
        return self.candidate.key

    @property
    def config(self) -> SubnetConfig:
        return self.candidate.config

    @property
    def params(self) -> int:
        return self.candidate.params

    @property
    def macs(self) -> int:
        return self.candidate.macs

    def measured(self, device: str) -> DeviceMeasurement | None:
        """Its measurement on ``device`` (None: not re-measured there)."""
        m = self.latency.get(device)
        return m if isinstance(m, DeviceMeasurement) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.candidate.to_dict(),
            "config": self.config.to_dict(),
            "retrain": self.config.to_retrain(),
            "val_top1": self.val_top1,
            "latency": {d: m.to_dict() for d, m in self.latency.items()},
            "test_top1": self.test_top1,
        }


def winner_of(
    c: Candidate | None, attempts: list[Attempt], opts: SearchOptions, test_top1: float | None
) -> Winner | None:
    """``c`` as the winner, with its measurements from ``attempts`` (else its predictions)."""
    if c is None:
        return None
    measured = next((a.latency for a in attempts if a.key == c.key), {})
    latency: dict[str, PredictedLatency] = (
        dict(measured) if measured else {d: PredictedLatency(b, c.latency_ms[d]) for d, b in opts.budgets}
    )
    return Winner(c, c.fitness if opts.objective == "accuracy" else None, test_top1, latency)


@dataclass(frozen=True)
class SearchReport:
    """What ``hwnas search`` found; ``to_dict()`` is report.json. ``front``, ``history``, ``devices``,
    ``accuracy`` and ``extremes`` hold plain data, as written to the report."""

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
    winner: Winner | None  # None: no candidate met every budget when measured
    verification: list[Attempt]  # the candidates re-measured, best first
    verification_note: str
    front: list[dict[str, Any]]
    history: list[dict[str, Any]]
    timing: dict[str, float]
    files: dict[str, str] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)  # finalists compared paired (accuracy objective)
    extremes: list[dict[str, Any]] = field(default_factory=list)  # the smallest and largest subnet, scored
    # finalists scored in their deployed forms (INT8 devices, --precisions), and the winner's test top-1 so
    deployed: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, winner=None, verification=[]))  # the typed fields below, in their place
        out["winner"] = self.winner.to_dict() if self.winner else None
        out["verification"] = [a.to_dict() for a in self.verification]
        if not self.deployed:
            del out["deployed"]  # only searches for a deployed form (INT8, --precisions) have the section
        return out


def build_report(
    space: SearchSpace,
    opts: SearchOptions,
    constraints: Constraints,
    dev_info: list[dict],
    result: SearchResult,
    winner: Winner | None,
    verification: Verification,
    timing: dict[str, float],
    accuracy: dict[str, Any],
    extremes: list[dict[str, Any]],
    deployed: dict[str, Any] | None = None,
) -> SearchReport:
    """The report of a search (its files are added when they are written)."""
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
        winner=winner,
        verification=verification.attempts,
        verification_note=verification.note,
        front=front_rows(result) if opts.pareto else [],
        history=[asdict(h) for h in result.history],
        timing=timing,
        accuracy=accuracy,
        extremes=extremes,
        deployed=deployed or {},
    )


def write_winner(
    out: Path,
    space: SearchSpace,
    winner: Candidate | Winner | None,
    ckpt: Path | None,
    export: bool,
    device: Device | None = None,
    data: str = "mnist",
) -> dict[str, str]:
    """winner.yaml (and winner.onnx: in ``device``'s deployed form when it is INT8, its FP32 twin beside
    it as winner.fp32.onnx); an earlier search's winner is never left behind."""
    for stale in ("winner.yaml", "winner.onnx", "winner.fp32.onnx"):
        (out / stale).unlink(missing_ok=True)
    if winner is None:
        return {}
    save_subnet(winner.config, out / "winner.yaml", space)
    files = {"winner_yaml": str(out / "winner.yaml")}
    if not export:
        return files
    if device is not None and device.quantized:
        from hwnas.pipelines.deployed import export_deployed

        _, model = export_deployed(winner.config, out / "winner.onnx", device, space, ckpt, data)
        files["winner_onnx"], files["winner_fp32_onnx"] = str(model.path), str(model.fp32_path)
    else:
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
            winner=w.key if w else None,
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
    w = report.winner
    lines = [
        f"# hwnas search on {report.space}",
        "",
        f"- objective: {report.objective} ({report.objective_note})",
        f"- constraints: {'; '.join(report.constraints) or 'none'}",
        f"- {report.evaluated} candidates scored in {report.timing['search_s']:.1f} s "
        f"(seed {report.seed}, {'Pareto' if report.pareto else 'single-objective'} mode)",
        "",
    ]
    if w is not None:
        lines += [
            "## Winner",
            "",
            f"`{w.key}`: {w.params / 1e6:.3f} M params, {w.macs / 1e6:.1f} M MACs, "
            f"validation top-1 {_pct(w.val_top1)}, test top-1 {_pct(w.test_top1)}",
            "",
        ]
        rows = [{"device": d, **m.to_dict()} for d, m in w.latency.items()]
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
    if report.deployed.get("finalists"):
        lines += _deployed_lines(report.deployed)
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
            markdown_table([a.to_dict() for a in report.verification], ["rank", "key", "fitness", "outcome"]),
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


def _deployed_lines(dep: dict[str, Any]) -> list[str]:
    """The finalists' FP32 and deployed top-1 side by side, and the form each ships in."""
    rows = [
        {
            "key": f["key"],
            "fp32 top-1": _pct(f["fp32_top1"]),
            **{x["device"]: _pct(x["top1"]) if x["within_budget"] else "over budget" for x in f["forms"]},
            "ships as": f["chosen"] or "-",
        }
        for f in dep["finalists"]
    ]
    out = [
        f"## The finalists as deployed ({dep['images']} {dep['split']} images, paired)",
        "",
        markdown_table(rows, list(rows[0])),
        "",
        dep["note"],
        "",
    ]
    w = dep.get("winner")
    if w:
        out += [
            f"Winner on the test images as it ships ({w['device']}, {w['precision']}): "
            f"{_pct(w['deployed_test_top1'])} against {_pct(w['fp32_test_top1'])} in FP32 "
            f"({w['agreement']:.1f} % of predictions the same, McNemar p {w['mcnemar_p']:.3f}).",
            "",
        ]
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} %"
