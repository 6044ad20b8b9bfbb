"""Human-readable quality reports: the family table, the learning curve, the noise floor, a plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hwnas.present import text_table

COLUMNS = (
    ("rmse_ms", "RMSE ms", "{:.3f}"),
    ("mape", "MAPE", "{:.1%}"),
    ("rmspe", "RMSPE", "{:.1%}"),
    ("within_5", "±5%", "{:.0%}"),
    ("within_10", "±10%", "{:.0%}"),
    ("p95_rel_err", "p95 err", "{:.1%}"),
    ("kendall_tau", "tau", "{:.3f}"),
    ("spearman_rho", "rho", "{:.3f}"),
)


def _fmt(fmt: str, v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def family_table(comparison: dict[str, Any], noise: dict[str, Any] | None = None) -> str:
    """One row per family: held-out metrics, CV MAPE, train MAPE, prediction rate; the chosen one
    marked '*', and a note on families whose error is under the noise floor."""
    floor = (noise or {}).get("floor")
    floor = float("nan") if floor is None else floor
    rows, notes = [], []
    for name, r in comparison["families"].items():
        h = r["holdout"]
        mark = "*" if name == comparison["chosen"] else " "
        rows.append(
            [
                f"{mark}{name}",
                *(_fmt(f, h[k]) for k, _, f in COLUMNS),
                _fmt("{:.1%}", r["cv"]["mape"]),
                _fmt("{:.1%}", r["train_mape"]),
                f"{r['predict_per_s']:,.0f}",
            ]
        )
        if not math.isnan(floor):
            if h["mape"] < floor:
                notes.append(
                    f"{name}: held-out MAPE {h['mape']:.1%} is below the noise floor {floor:.1%}: "
                    "better than the noise floor = fitting noise (or luck on a small split)"
                )
            elif r["train_mape"] < floor:
                notes.append(
                    f"{name}: training MAPE {r['train_mape']:.1%} is below the noise floor "
                    f"{floor:.1%}: it is fitting noise on the training set"
                )
    head = ["family", *(c for _, c, _ in COLUMNS), "CV MAPE", "train MAPE", "pred/s"]
    text = text_table(head, rows, right=True)
    text += (
        f"\n(* chosen by {comparison.get('select_by', 'cv mape')}; held-out metrics on "
        f"{comparison['n_test']} subnets, trained on {comparison['n_train']}, "
        f"{comparison['folds']}-fold CV on the training split)"
    )
    return text + "".join(f"\nnote: {n}" for n in notes)


def retest_text(rt: dict[str, Any] | None) -> str:
    """The store's own test-retest disagreement, to read beside the table's MAPE / p95 columns."""
    if not rt or not rt.get("subnets"):
        return (
            "test-retest: no subnet of this store was measured in two visits ('hwnas profile' makes three by default)"
        )
    return (
        f"test-retest ({rt['subnets']} subnets measured in two visits): |a - b| / mean median {rt['median']:.1%}, "
        f"p90 {rt['p90']:.1%}, worst {rt['worst']:.1%} (beside MAPE and p95 err above: no predictor agrees with "
        "one visit much better than two visits agree with each other)"
    )


def noise_text(noise: dict[str, Any]) -> str:
    if not noise or noise.get("floor") is None:
        return "noise floor: unknown (the records carry no repeated measurements)"
    parts = []
    if noise.get("n_records"):
        parts.append(
            f"blocks of one subnet disagree by {noise['rel_mad_median']:.1%} typical "
            f"(p95 {noise['rel_mad_p95']:.1%}, {noise['blocks_per_record']:.0f} blocks per record, "
            f"{noise['n_records']} records), so a record's latency carries ~{noise['label_noise']:.1%}"
        )
    if noise.get("n_ref", 0) >= 2:
        parts.append(
            f"the reference subnet re-measured in {noise['n_ref']} batches drifts by "
            f"{noise['ref_drift']:.1%}"
            + (
                " (taken out of the labels by rescaling each batch to its reference)"
                if noise.get("drift_corrected")
                else ""
            )
        )
    gap = noise.get("host_baseline_gap")
    if gap is not None and gap > 0.01:
        parts.append(
            f"the store's typical batch ran {gap:.1%} slower than this host's remembered quiet ladder, "
            "so its labels are rescaled to the latter"
        )
    rt = noise.get("retest") or {}
    if (rt.get("subnets") or 0) >= 2:
        parts.append(
            f"{rt['subnets']} subnets measured again later disagree by {rt['median']:.1%} "
            f"median (p90 {rt['p90']:.1%}, worst {rt['worst']:.1%}): a label carries ~{rt['label_noise']:.1%}"
        )
    return (
        f"noise floor {noise['floor']:.1%}: " + "; ".join(parts) + ". A held-out MAPE below the floor is fitting noise."
    )


def curve_table(curves: dict[str, list[dict[str, float]]], metric: str = "within_10") -> str:
    """Families x training-set sizes of one metric (held-out)."""
    if not curves:
        return ""
    sizes = sorted({row["n"] for rows in curves.values() for row in rows})
    fmt = dict((k, f) for k, _, f in COLUMNS)[metric]
    rows = []
    for name, pts in curves.items():
        by_n = {p["n"]: p[metric] for p in pts}
        rows.append([name, *(_fmt(fmt, by_n[n]) if n in by_n else "" for n in sizes)])
    return f"learning curve (held-out {metric} vs training samples):\n" + text_table(
        ["family", *map(str, sizes)], rows, right=True
    )


def smallest_size(curve: list[dict[str, float]], metric: str = "within_10", goal: float = 0.95) -> int | None:
    """The smallest training-set size whose held-out ``metric`` reaches ``goal`` (None if none does)."""
    hits = [p["n"] for p in curve if p[metric] >= goal]
    return int(min(hits)) if hits else None


def plot_predictions(y_true: Sequence[float], y_pred: Sequence[float], path: str | Path, title: str) -> Path:
    """Predicted vs measured latency with the ±10 % band, as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    lo, hi = 0.9 * min(y.min(), p.min()), 1.1 * max(y.max(), p.max())
    line = np.linspace(lo, hi, 50)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.fill_between(line, 0.9 * line, 1.1 * line, color="tab:green", alpha=0.15, label="±10 %")
    ax.plot(line, line, color="tab:green", lw=1)
    inside = np.abs(p / y - 1) <= 0.10
    ax.scatter(y[inside], p[inside], s=14, color="tab:blue", label=f"within ±10 % ({inside.mean():.0%})")
    ax.scatter(y[~inside], p[~inside], s=18, color="tab:red", marker="x", label="outside")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured latency (ms)", ylabel="predicted latency (ms)", title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
