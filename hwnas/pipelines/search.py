"""search -> verify -> export: the wiring behind ``hwnas search``.

Loads the supernet checkpoint and the device predictors from the run folder, scores candidates on the
validation split (or a training-free proxy), runs the evolution, re-measures the winner on each
budgeted device with the profiling protocol (falling back to the next feasible candidate when it
misses), and writes winner.yaml, winner.onnx, report.json, report.md and pareto.png.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hwnas.core.complexity import count_params
from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import save_subnet
from hwnas.pipelines.workdir import RunDir
from hwnas.search.constraints import MAX_MARGIN
from hwnas.search import (CachedFitness, Candidate, Constraints, EvolutionSettings, GenerationStats,
                          LatencyBudget, SearchResult, run_search)
from hwnas.search.report import front_rows, plot_front, render_markdown, write_json

OBJECTIVES = {
    "accuracy": "top-1 on the validation split with weights inherited from the supernet",
    "params": "training-free: the most parameters under the constraints (a proxy for accuracy within one "
              "supernet; see the benchmark for its Kendall tau against inherited-weight accuracy)",
}


@dataclass
class SearchOptions:
    budgets: list[tuple[str, float | None]] = field(default_factory=list)  # (device, budget ms or None)
    params_m: tuple[float | None, float | None] = (None, None)
    macs_m: float | None = None
    objective: str = "accuracy"
    data: str = "mnist"  # the bundled set, or an image folder (see hwnas.data.loaders)
    subset: int | None = None  # validation images used for the fitness (None: all)
    seed: int = 0
    settings: EvolutionSettings = field(default_factory=EvolutionSettings)
    pareto: bool = False
    margin: float | None = None  # None: each predictor's measured p95 relative error
    fit_missing: bool = False
    max_measured: int = 5  # candidates re-measured at most before giving up
    measure: bool = True
    export: bool = True


# -- inputs ------------------------------------------------------------------------------------
def checkpoint_for(run: RunDir, checkpoint: str | Path | None, objective: str) -> Path | None:
    """The supernet checkpoint, or a clear refusal when the objective needs one."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    path = Path(checkpoint) if checkpoint else run.supernet
    if path.is_file():
        return path
    if checkpoint:
        raise NotFoundError(f"no such checkpoint: {path}")
    if objective == "accuracy":
        raise NotFoundError(f"no supernet checkpoint at {path}: train one with 'hwnas train', pass --checkpoint, "
                            "or search training-free with '--objective params'")
    return None


def missing_predictor_message(run: RunDir, device: str) -> str:
    return (f"no latency predictor for {device} at {run.predictor(device)}: run 'hwnas profile --device {device}' "
            f"then 'hwnas fit --device {device}' (or pass --fit-missing to do both now)")


def fit_missing_predictor(run: RunDir, space: SearchSpace, device: str, n: int = 200, *, seed: int = 0,
                          progress: Callable[[Any, int, int], None] | None = None) -> Path:
    """``hwnas profile --device D -n N`` then ``hwnas fit --device D`` into the run folder."""
    from hwnas.pipelines.fit import fit_device
    from hwnas.pipelines.profile import profile_space

    profile_space(space, device, n, run.ensure().store, seed=seed, progress=progress)
    return fit_device(space, device, run.store, run.predictor(device), seed=seed).path


def load_budgets(run: RunDir, space: SearchSpace, opts: SearchOptions,
                 fit_missing: Callable[[str], None] | None = None) -> tuple[list[LatencyBudget], list[dict]]:
    """One LatencyBudget per device, with the safety margin from its predictor's p95 relative error."""
    from hwnas.predictors import load_predictor

    budgets, info = [], []
    for device, budget_ms in opts.budgets:
        path = run.predictor(device)
        if not path.is_file():
            if fit_missing is None:
                raise NotFoundError(missing_predictor_message(run, device))
            fit_missing(device)
        pred = load_predictor(path, space=space, device=device)
        p95 = float(pred.metrics_["p95_rel_err"])
        margin = p95 if opts.margin is None else opts.margin
        if budget_ms is not None and opts.margin is None and p95 > MAX_MARGIN:
            raise ConfigError(f"the {device} latency predictor's p95 relative error is {p95:.1%}, more than the "
                              f"{MAX_MARGIN:.0%} a budget margin can absorb: profile more subnets (on a quiet "
                              f"machine) and refit with 'hwnas fit --device {device}', or set --margin")
        budgets.append(LatencyBudget(device, pred, budget_ms, margin if budget_ms is not None else 0.0))
        info.append({"device": device, "budget_ms": budget_ms, "predictor": str(path), "p95_rel_err": p95,
                     "margin": budgets[-1].margin, "limit_ms": budgets[-1].limit_ms})
    return budgets, info


def split_tensors(space: SearchSpace, data: str, split: str, subset: int | None = None):  # noqa: ANN201
    """Images and labels of one split held in memory; ``subset`` keeps a fixed random sample of it."""
    import torch
    from torch.utils.data import TensorDataset

    from hwnas.data.loaders import load_split

    ds = load_split(data, split, space)
    idx = np.arange(len(ds))
    if subset is not None and subset < len(ds):
        idx = np.sort(np.random.default_rng(0).permutation(len(ds))[:subset])
    if isinstance(ds, TensorDataset):
        x, y = ds.tensors
        return x[torch.from_numpy(idx)], y[torch.from_numpy(idx)]
    items = [ds[int(i)] for i in idx]
    return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])


class InheritedAccuracy:
    """The supernet loaded once; top-1 (%) of any subnet with the weights it inherits, on any split."""

    def __init__(self, space: SearchSpace, checkpoint: Path, data: str = "mnist", batch_size: int = 250) -> None:
        from hwnas.supernet import load_supernet

        self.space, self.data, self.batch_size = space, data, batch_size
        self.net, _ = load_supernet(checkpoint, space)
        self.net.eval()

    def fitness(self, split: str = "val", subset: int | None = None) -> CachedFitness:
        """config -> top-1 on ``split`` (the validation split during the search), cached per key."""
        from hwnas.supernet.evaluate import evaluate

        x, y = split_tensors(self.space, self.data, split, subset)
        bs = self.batch_size
        loader = [(x[i:i + bs], y[i:i + bs]) for i in range(0, len(y), bs)]
        return CachedFitness(lambda cfg: float(evaluate(self.net, cfg, loader)["top1"]))


def params_fitness(space: SearchSpace) -> CachedFitness:
    return CachedFitness(lambda cfg: count_params(space, cfg) / 1e6)


# -- verification ------------------------------------------------------------------------------
def measure_candidate(space: SearchSpace, c: Candidate, budgets: list[LatencyBudget],
                      checkpoint: Path | None) -> dict[str, dict[str, Any]]:
    """Measure ``c`` now on every device with the profiling protocol (no predictor involved)."""
    from hwnas.pipelines.profile import measure_subnet

    out = {}
    for b in budgets:
        rec = measure_subnet(b.device, space, c.config, checkpoint=checkpoint)
        ok = str(rec.status) == "ok"
        ms = float(rec.latency_ms) if ok else None
        out[b.device] = {"budget_ms": b.budget_ms, "predicted_ms": c.latency_ms[b.device], "measured_ms": ms,
                         "spread": float(rec.spread) if ok and rec.spread is not None else None,
                         "status": str(rec.status),
                         "within_budget": None if b.budget_ms is None or ms is None else ms <= b.budget_ms}
    return out


def verify(space: SearchSpace, ranked: list[Candidate], budgets: list[LatencyBudget], checkpoint: Path | None,
           max_measured: int, log: Callable[[str], None]) -> tuple[Candidate | None, list[dict], str]:
    """Measure candidates best first until one meets every budget; returns it, the attempts and a note."""
    attempts: list[dict] = []
    for rank, c in enumerate(ranked[:max_measured], 1):
        lat = measure_candidate(space, c, budgets, checkpoint)
        misses = [f"{d}: {m['measured_ms']} ms > {m['budget_ms']:g} ms" if m["measured_ms"] is not None
                  else f"{d}: measurement failed ({m['status']})"
                  for d, m in lat.items() if m["within_budget"] is False or m["measured_ms"] is None]
        attempts.append({"rank": rank, "key": c.key, "fitness": c.fitness, "latency": lat,
                         "outcome": "within budget" if not misses else "missed: " + "; ".join(misses)})
        log(f"measured #{rank} {c.key}: " + ", ".join(
            f"{d} {m['measured_ms']:.3f} ms (predicted {m['predicted_ms']:.3f})" if m["measured_ms"] is not None
            else f"{d} failed" for d, m in lat.items()) + ("" if not misses else "  -> missed, trying the next"))
        if not misses:
            note = ("the best candidate met every budget when measured" if rank == 1 else
                    f"the {rank - 1} better candidate(s) missed a budget when measured; #{rank} met them all")
            return c, attempts, note
    return None, attempts, f"none of the best {len(attempts)} candidates met every budget when measured"


# -- the whole step ----------------------------------------------------------------------------
def search(run: RunDir, space: SearchSpace, opts: SearchOptions, *, checkpoint: str | Path | None = None,
           on_generation: Callable[[GenerationStats], None] | None = None,
           fit_missing: Callable[[str], None] | None = None,
           log: Callable[[str], None] = print) -> dict[str, Any]:
    """Search, verify and write the results to ``run.search``; returns the report."""
    t0 = time.perf_counter()
    ckpt = checkpoint_for(run, checkpoint, opts.objective)
    if opts.measure:
        _require_devices([d for d, _ in opts.budgets])
    budgets, dev_info = load_budgets(run, space, opts, fit_missing)
    constraints = Constraints(space, budgets, params_m=opts.params_m, macs_m=opts.macs_m)
    scorer = InheritedAccuracy(space, ckpt, opts.data) if opts.objective == "accuracy" else None
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
    report = _report(space, opts, constraints, dev_info, result, winner, attempts, note,
                     {"setup_s": t1 - t0, "search_s": t2 - t1, "verify_s": t3 - t2})
    if winner is not None:
        report["winner"]["test_top1"] = scorer.fitness("test")(winner.config) if scorer else None
    report["files"] = _write(run, space, result, winner, report, ckpt, opts)
    report["timing"]["total_s"] = time.perf_counter() - t0
    write_json(report, run.search / "report.json")
    return report


def _require_devices(names: list[str]) -> None:
    """Refuse before searching when a device cannot run here (the winner could not be measured)."""
    from hwnas.devices import get
    from hwnas.profiling.runtimes import require_available

    for name in names:
        require_available(get(name))


def _report(space: SearchSpace, opts: SearchOptions, constraints: Constraints, dev_info: list[dict],
            result: SearchResult, winner: Candidate | None, attempts: list[dict], note: str,
            timing: dict[str, float]) -> dict[str, Any]:
    w = None
    if winner is not None:
        measured = next((a["latency"] for a in attempts if a["key"] == winner.key), {})
        w = {**winner.to_dict(), "config": winner.config.to_dict(), "retrain": winner.config.to_retrain(),
             "val_top1": winner.fitness if opts.objective == "accuracy" else None,
             "latency": measured or {d: {"budget_ms": b, "predicted_ms": winner.latency_ms[d]}
                                     for d, b in opts.budgets}}
    return {
        "space": space.name, "space_digest": space.digest(), "objective": opts.objective,
        "objective_note": OBJECTIVES[opts.objective], "seed": opts.seed, "pareto": opts.pareto,
        "settings": asdict(opts.settings), "subset": opts.subset, "constraints": constraints.describe(),
        "devices": dev_info, "evaluated": len(result.candidates), "winner": w,
        "verification": attempts,
        "verification_note": note, "front": front_rows(result) if opts.pareto else [],
        "history": [asdict(h) for h in result.history], "timing": timing,
    }


def _write(run: RunDir, space: SearchSpace, result: SearchResult, winner: Candidate | None,
           report: dict[str, Any], ckpt: Path | None, opts: SearchOptions) -> dict[str, str]:
    out = run.search
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for stale in ("winner.yaml", "winner.onnx"):  # never leave an earlier search's winner behind
        (out / stale).unlink(missing_ok=True)
    if winner is not None:
        save_subnet(winner.config, out / "winner.yaml", space)
        files["winner_yaml"] = str(out / "winner.yaml")
        if opts.export:
            from hwnas.pipelines.export import export_subnet

            files["winner_onnx"] = export_subnet(winner.config, out / "winner.onnx", space=space,
                                                 checkpoint=ckpt)["path"]
    budgets = {d: b for d, b in opts.budgets if b is not None}
    limits = {d["device"]: d["limit_ms"] for d in report["devices"] if d["limit_ms"] is not None}
    plot_front(result, out / "pareto.png", winner=winner.key if winner else None, budgets=budgets, limits=limits,
               fitness_label="validation top-1 (%)" if opts.objective == "accuracy" else "parameters (M)")
    files.update(pareto_png=str(out / "pareto.png"), report_json=str(out / "report.json"),
                 report_md=str(out / "report.md"))
    report["files"] = files
    (out / "report.md").write_text(render_markdown(report))
    return files
