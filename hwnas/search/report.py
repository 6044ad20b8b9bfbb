"""Search results for people: candidate rows and the accuracy x latency plot (the report files are
written by ``hwnas.pipelines.search_report``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from hwnas.search.evolution import Candidate, SearchResult


def candidate_row(c: Candidate, devices: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"fitness": c.fitness, "params_m": round(c.params / 1e6, 3), "macs_m": round(c.macs / 1e6, 1)}
    row.update({f"{d}_pred_ms": c.latency_ms[d] for d in devices})
    row["key"] = c.key
    return row


def front_rows(result: SearchResult) -> list[dict[str, Any]]:
    return [candidate_row(c, result.devices) for c in result.front()]


def _x_of(device: str | None) -> Callable[[Candidate], float]:
    """A candidate's x in the plot: its latency on ``device``, or its MACs (millions) without one."""
    if device is None:
        return lambda c: c.macs / 1e6
    return lambda c: c.latency_ms[device]


def plot_front(
    result: SearchResult,
    path: str | Path,
    *,
    winner: str | None = None,
    budgets: dict[str, float] | None = None,
    limits: dict[str, float] | None = None,
    fitness_label: str = "fitness",
) -> Path:
    """Every candidate, the front, the winner and the budgets: one panel per device (MACs if none)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_of = result.devices or ["MACs"]
    fig, axes = plt.subplots(1, len(axes_of), figsize=(6 * len(axes_of), 4.5), squeeze=False)
    front = {c.key for c in result.front()}
    for ax, dev in zip(axes[0], axes_of):
        x_of = _x_of(dev if result.devices else None)
        ax.scatter(
            [x_of(c) for c in result.candidates],
            [c.fitness for c in result.candidates],
            s=8,
            c="0.7",
            label="candidates",
        )
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
