"""Search results as text: a plain table, the JSON and Markdown report, and the accuracy x latency plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from hwnas.search.evolution import Candidate, SearchResult


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A fixed-width text table (floats with 4 significant digits)."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v))

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def candidate_row(c: Candidate, devices: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"fitness": c.fitness, "params_m": round(c.params / 1e6, 3),
                           "macs_m": round(c.macs / 1e6, 1)}
    row.update({f"{d}_pred_ms": c.latency_ms[d] for d in devices})
    row["key"] = c.key
    return row


def front_rows(result: SearchResult) -> list[dict[str, Any]]:
    return [candidate_row(c, result.devices) for c in result.front()]


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    p.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return p


def _md_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v))

    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """The report for people: constraints, the winner predicted vs measured, what verification did."""
    w = report.get("winner") or {}
    lines = [f"# hwnas search on {report['space']}", "",
             f"- objective: {report['objective']} ({report['objective_note']})",
             f"- constraints: {'; '.join(report['constraints']) or 'none'}",
             f"- {report['evaluated']} candidates scored in {report['timing']['search_s']:.1f} s "
             f"(seed {report['seed']}, {'Pareto' if report['pareto'] else 'single-objective'} mode)", ""]
    if w:
        lines += ["## Winner", "", f"`{w['key']}`: {w['params'] / 1e6:.3f} M params, {w['macs'] / 1e6:.1f} M MACs, "
                  f"validation top-1 {_pct(w.get('val_top1'))}, test top-1 {_pct(w.get('test_top1'))}", ""]
        rows = [{"device": d, **m} for d, m in w.get("latency", {}).items()]
        lines += _md_table(rows, ["device", "budget_ms", "predicted_ms", "measured_ms", "spread", "within_budget"])
        lines += ["", f"Verification: {report['verification_note']}", ""]
    if report.get("verification"):
        lines += ["## Candidates measured", ""]
        lines += _md_table(report["verification"], ["rank", "key", "fitness", "outcome"])
        lines.append("")
    if report.get("front"):
        lines += ["## Pareto front (predicted latency)", ""]
        lines += _md_table(report["front"], list(report["front"][0]))
        lines.append("")
    lines += ["## Search history", ""]
    lines += _md_table(report["history"], ["generation", "evaluated", "rejected", "best_fitness", "best_key"])
    return "\n".join(lines) + "\n"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} %"


def plot_front(result: SearchResult, path: str | Path, *, winner: str | None = None,
               budgets: dict[str, float] | None = None, limits: dict[str, float] | None = None,
               fitness_label: str = "fitness") -> Path:
    """Every candidate, the front, the winner and the budgets: one panel per device (MACs if none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_of = result.devices or ["MACs"]
    fig, axes = plt.subplots(1, len(axes_of), figsize=(6 * len(axes_of), 4.5), squeeze=False)
    front = {c.key for c in result.front()}
    for ax, dev in zip(axes[0], axes_of):
        x_of = (lambda c: c.latency_ms[dev]) if result.devices else (lambda c: c.macs / 1e6)
        ax.scatter([x_of(c) for c in result.candidates], [c.fitness for c in result.candidates], s=8,
                   c="0.7", label="candidates")
        fr = sorted((c for c in result.candidates if c.key in front), key=x_of)
        ax.plot([x_of(c) for c in fr], [c.fitness for c in fr], "o-", ms=4, c="tab:blue", label="Pareto front")
        for c in result.candidates:
            if c.key == winner:
                ax.scatter([x_of(c)], [c.fitness], marker="*", s=200, c="tab:red", zorder=5, label="winner")
        if budgets and dev in budgets:
            ax.axvline(budgets[dev], c="tab:red", ls="--", lw=1, label=f"budget {budgets[dev]:g} ms")
        if limits and dev in limits:
            ax.axvline(limits[dev], c="tab:orange", ls=":", lw=1, label=f"predicted limit {limits[dev]:.3g} ms")
        ax.set_xlabel(f"predicted latency on {dev} (ms)" if result.devices else "MACs (M)")
        ax.set_ylabel(fitness_label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
