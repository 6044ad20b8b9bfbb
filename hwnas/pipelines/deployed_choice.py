"""The search's finalists scored as their devices run them, and the deployed form each would ship in.

A device whose precision changes the numbers (INT8) can cost some subnets more accuracy than others, so
an accuracy search for it ranks its finalists (the best :data:`FINALISTS` by inherited FP32 top-1) by
their top-1 **as deployed**: exported, quantized, run by the device's runtime on the validation images
(:class:`hwnas.pipelines.deployed.DeployedScorer`). With several deployed forms of one device (``hwnas
search --precisions fp32,int8-static,...``: budgets of one group, any of which a subnet may meet), each
finalist is scored in every form whose budget it meets and ships in the most accurate of them (the
faster on a tie); the finalists are then ranked by that. FP32 forms (ONNX Runtime, torch) compute what
the supernet computes, so their top-1 is the FP32 one. The comparison is paired on the same images, as
the FP32 finalists are (:mod:`hwnas.search.significance`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hwnas.devices import Device
from hwnas.pipelines.deployed import DeployedScorer
from hwnas.search import Candidate, LatencyBudget
from hwnas.search.significance import compare_to_best

FINALISTS = 20  # the best candidates by inherited top-1 that are scored in their deployed forms


@dataclass(frozen=True)
class FormScore:
    """One finalist in one deployed form: its predicted latency, whether that meets the form's budget,
    and its top-1 in that form (None where it was not scored: outside the budget)."""

    device: str
    precision: str
    predicted_ms: float
    within_budget: bool
    top1: float | None


@dataclass(frozen=True)
class DeployedFinalist:
    key: str
    fp32_top1: float  # inherited weights, FP32, on the same images
    forms: tuple[FormScore, ...]
    chosen: str | None  # the device (form) it ships in: the most accurate form within its budget

    @property
    def deployed_top1(self) -> float | None:
        return next((f.top1 for f in self.forms if f.device == self.chosen), None)


@dataclass
class DeployedCheck:
    """What scoring the finalists in their deployed forms found, for the report."""

    split: str
    images: int
    finalists: list[DeployedFinalist]
    comparison: list[dict[str, Any]] = field(default_factory=list)  # paired, on the chosen forms' hits
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        rows = [
            {**asdict(f), "forms": [asdict(x) for x in f.forms], "deployed_top1": f.deployed_top1}
            for f in self.finalists
        ]
        return {
            "split": self.split,
            "images": self.images,
            "finalists": rows,
            "comparison": self.comparison,
            "note": self.note,
        }


class FormScorer:
    """Hits of subnets per deployed form, on one split; ``scorer(device)`` builds the
    :class:`~hwnas.pipelines.deployed.DeployedScorer` of a form (once per form)."""

    def __init__(self, devices: dict[str, Device], scorer: Callable[[Device], DeployedScorer]) -> None:
        self.devices, self._make = devices, scorer
        self._scorers: dict[str, DeployedScorer] = {}
        self._fp32: dict[str, np.ndarray] = {}

    def hits(self, device: str, c: Candidate) -> np.ndarray:
        """Per image: is ``c``'s top-1 right as ``device`` runs it?"""
        dev = self.devices[device]
        if not changes_numbers(dev):
            return self.fp32_hits(c)
        scored = self._scorer(dev).score(c.config)
        self._fp32.setdefault(c.key, np.asarray(scored.fp32_hits, dtype=bool))
        return np.asarray(scored.deployed_hits, dtype=bool)

    def fp32_hits(self, c: Candidate) -> np.ndarray:
        """Per image: is ``c``'s FP32 top-1 (inherited weights) right?"""
        if c.key not in self._fp32:
            self._fp32[c.key] = self._scorer(next(iter(self.devices.values()))).fp32_hits(c.config)
        return self._fp32[c.key]

    def _scorer(self, dev: Device) -> DeployedScorer:
        if dev.name not in self._scorers:
            self._scorers[dev.name] = self._make(dev)
        return self._scorers[dev.name]


def changes_numbers(device: Device) -> bool:
    """Does ``device`` run a model whose numbers differ from the FP32 supernet's (INT8, FP16)?"""
    return device.quantized or device.precision == "fp16"


def deployed_finalists(
    ranked: Sequence[Candidate],
    within: Callable[[Candidate], tuple[str, ...]],
    budgets: Sequence[LatencyBudget],
    forms: FormScorer,
    alternatives: bool = True,
    count: int = FINALISTS,
    log: Callable[[str], None] = print,
) -> tuple[list[Candidate], dict[str, str], DeployedCheck]:
    """Score the top ``count`` of ``ranked`` in every deployed form whose budget they meet (``within``:
    the budgeted devices a candidate meets); returns the ranking reordered by deployed top-1 (the faster
    chosen form on a tie), the form each finalist ships in (key -> device), and the check for the report.
    ``alternatives``: the budgets are forms of one device, of which a finalist ships in its best; else
    every one of them is required, and a finalist counts by its worst."""
    top = list(ranked[:count])
    rows: list[tuple[Candidate, DeployedFinalist, np.ndarray | None]] = []
    for i, c in enumerate(top, 1):
        fits = set(within(c))
        scores, best_hits, chosen = [], None, None
        for b in budgets:
            ok = b.budget_ms is None or b.device in fits
            hits = forms.hits(b.device, c) if ok else None
            top1 = None if hits is None else 100.0 * float(hits.mean())
            scores.append(FormScore(b.device, forms.devices[b.device].precision, c.latency_ms[b.device], ok, top1))
            if hits is not None and (chosen is None or _better(c, b.device, top1, chosen, scores) == alternatives):
                chosen, best_hits = b.device, hits
        finalist = DeployedFinalist(c.key, 100.0 * float(forms.fp32_hits(c).mean()), tuple(scores), chosen)
        rows.append((c, finalist, best_hits))
        log(
            f"finalist {i}/{len(top)} {c.key}: fp32 {finalist.fp32_top1:.2f} %, "
            + ", ".join(f"{r.device} {r.top1:.2f} %" for r in scores if r.top1 is not None)
        )
    rows.sort(key=lambda r: (-(r[1].deployed_top1 or -1.0), _chosen_ms(r[0], r[1].chosen)))
    lead = [c for c, f, _ in rows if f.chosen is not None]
    rest = [c for c in ranked if c.key not in {x.key for x in lead}]
    chosen_hits = {c.key: h for c, _, h in rows if h is not None}
    comparison = [r.to_dict() for r in compare_to_best(lead[0].key, chosen_hits)] if lead else []
    images = len(next(iter(chosen_hits.values()))) if chosen_hits else 0
    finalists = [f for _, f, _ in rows]
    check = DeployedCheck("val", images, finalists, comparison, _note(top[0].key if top else None, finalists))
    return lead + rest, {f.key: f.chosen for f in finalists if f.chosen}, check


def _better(c: Candidate, device: str, top1: float | None, current: str, scores: list[FormScore]) -> bool:
    """Is ``device``'s form more accurate than the current choice (or as accurate and faster)?"""
    now = next(s.top1 for s in scores if s.device == current)
    return (top1 or 0.0, -c.latency_ms[device]) > (now or 0.0, -c.latency_ms[current])


def _chosen_ms(c: Candidate, device: str | None) -> float:
    return float("inf") if device is None else c.latency_ms[device]


def _note(by_fp32: str | None, finalists: list[DeployedFinalist]) -> str:
    first = next((f for f in finalists if f.chosen is not None), None)
    if first is None or first.deployed_top1 is None:
        return "no finalist met a budget in any deployed form"
    text = f"{first.key} leads as deployed ({first.chosen}, {first.deployed_top1:.2f} %)"
    if first.key != by_fp32:
        text += f"; the best by inherited FP32 top-1 was {by_fp32}"
    drops = [f.fp32_top1 - f.deployed_top1 for f in finalists if f.deployed_top1 is not None]
    return text + f"; FP32 -> deployed drop over the finalists {min(drops):+.2f} to {max(drops):+.2f} points"
