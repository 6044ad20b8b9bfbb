"""Search the space for the most accurate subnet that runs within a latency budget, measured.

Latency comes from each device's fitted predictor (run folder: predictors/DEVICE.json), with a safety
margin from the predictor's held-out error and the store's own label noise; the winner is then
re-measured on the device in three batches, as a label is (the median decides), and when it misses,
the next-best candidate is. Pair each --latency-ms with a --device
in order, or write --budget DEVICE=MS. A --device without a budget (or --budget DEVICE) makes its
latency an objective only, as in --pareto mode.

Fitness is top-1 on the validation split with weights inherited from the supernet checkpoint.
Without a checkpoint, '--objective params' searches training-free: the most parameters that fit.

examples:
  hwnas search --latency-ms 5 --device cpu
  hwnas search --budget cpu=2 --params-m 0.5,2 --subset 200 --seed 1
  hwnas search --latency-ms 5 --device cpu --latency-ms 2 --device gpu-trt
  hwnas search --pareto --device cpu --generations 10
  hwnas search --latency-ms 3 --device cpu --objective params --population 20 --generations 5
  hwnas search --latency-ms 2 --device cpu --tie-tolerance 0.5    # faster subnet when accuracy ties
  hwnas search --latency-ms 2 --device cpu --precision fp32        # float32 scores even where bf16 is native
  hwnas search --latency-ms 2 --device cpu-int8                    # finalists ranked by their INT8 top-1
  hwnas search --latency-ms 2 --device cpu --precisions fp32,int8-static,int8-dynamic   # the best form wins
  torchrun --nproc_per_node 2 -m hwnas search --latency-ms 2 --device cpu   # scoring sharded over 2 processes

Candidates are scored on the same validation images, so the report compares the finalists paired
(exact McNemar test, 95 % intervals) and says whether the best is distinguishable from the runners-up.
With --tie-tolerance P, the lowest-latency subnet among those not distinguishable from the best and at
most P points below it leads instead (latency predicted on the first budgeted device).
For a device whose precision changes the numbers (INT8), the 20 best candidates are scored as the device
runs them (quantized, in its runtime, on the same images) and ranked by that; the winner ships (winner.onnx)
in that form, its FP32 twin beside it. --precisions searches the deployed forms of one device together:
each candidate may ship in any form whose budget it meets, and goes in its most accurate one (each form
needs its own predictor: profile and fit cpu-int8 / cpu-int8-dynamic first).
Under torchrun every process scores its share of the images (whole batches, so the numbers equal one
process's); rank 0 alone re-measures, writes and prints.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING, Callable

from hwnas.cli.agent_cmd import add_agent_options, route_agents
from hwnas.cli.common import add_workdir, positive_float, positive_int, print_json, seed, workdir
from hwnas.cli.devices_cmd import add_devices_option, devices_of
from hwnas.core.errors import ConfigError
from hwnas.present import Progress, log, table

if TYPE_CHECKING:
    from hwnas.core.space import SearchSpace
    from hwnas.devices import Devices
    from hwnas.pipelines.search import SearchOptions, SearchReport
    from hwnas.pipelines.workdir import RunDir
    from hwnas.search import EvolutionSettings, GenerationStats

HELP = "hardware-aware evolutionary search; the winner re-measured and exported"


def _range(text: str) -> tuple[float | None, float | None]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX (either may be empty), got {text!r}")
    try:
        lo, hi = (float(p) if p.strip() else None for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers: {text!r}") from None
    if any(v is not None and not math.isfinite(v) for v in (lo, hi)):
        raise argparse.ArgumentTypeError(f"not finite numbers: {text!r}")
    return lo, hi


def _points(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected points of top-1 (a number >= 0), got {text!r}") from None
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError(f"expected points of top-1 between 0 and 100, got {text!r}")
    return v


def _budget(text: str) -> tuple[str, float | None]:
    dev, _, ms = text.partition("=")
    if not dev:
        raise argparse.ArgumentTypeError(f"expected DEVICE=MS or DEVICE, got {text!r}")
    return dev, (positive_float(ms) if ms else None)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("constraints")
    g.add_argument(
        "--latency-ms",
        type=positive_float,
        action="append",
        default=[],
        metavar="MS",
        help="latency budget, paired in order with --device (repeatable)",
    )
    g.add_argument("--device", action="append", default=[], metavar="DEVICE", help="device of a budget (repeatable)")
    g.add_argument(
        "--precisions",
        type=lambda t: [p.strip() for p in t.split(",") if p.strip()],
        default=None,
        metavar="LIST",
        help="search the deployed forms of the one --device together, e.g. fp32,int8-static,int8-dynamic: "
        "each candidate ships in the form that meets the budget with the best deployed top-1",
    )
    add_devices_option(p)
    g.add_argument(
        "--budget",
        type=_budget,
        action="append",
        default=[],
        metavar="DEVICE=MS",
        help="a device and its budget in one (repeatable); DEVICE alone: latency only as objective",
    )
    g.add_argument(
        "--params-m",
        type=_range,
        default=(None, None),
        metavar="MIN,MAX",
        help="parameter range in millions (AutoFormer's constraint), e.g. 0.5,2 or ,1.5",
    )
    g.add_argument("--macs-m", type=positive_float, default=None, metavar="MAX", help="MACs cap in millions")
    g.add_argument(
        "--margin",
        type=float,
        default=None,
        metavar="FRACTION",
        help="safety margin instead of the default: each predictor's p95 relative error, with one visit's "
        "label noise from the store's retests (0 disables it)",
    )
    g = p.add_argument_group("objective")
    g.add_argument(
        "--objective",
        choices=["accuracy", "params"],
        default="accuracy",
        help="accuracy: validation top-1 with inherited weights (needs the supernet); params: "
        "training-free, the most parameters under the constraints",
    )
    g.add_argument(
        "--data",
        default="mnist",
        metavar="DATA",
        help="'mnist' (the bundled sample) or an image folder, as for 'hwnas train'",
    )
    g.add_argument(
        "--subset",
        type=positive_int,
        default=None,
        metavar="N",
        help="score on a fixed sample of N validation images (default: all)",
    )
    g.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="arithmetic of the accuracy scores: auto (default) is bf16 autocast where the CPU computes "
        "bfloat16 natively (AVX512-BF16, AMX; 1.7-1.8x faster, as in training), else fp32",
    )
    g.add_argument("--pareto", action="store_true", help="NSGA-II-style search for the accuracy x latency front")
    g.add_argument(
        "--tie-tolerance",
        type=_points,
        default=None,
        metavar="POINTS",
        help="prefer the lowest-latency subnet that the validation images cannot tell from the best "
        "(McNemar p >= 0.05) and that is at most POINTS of top-1 below it (default: off)",
    )
    g = p.add_argument_group("evolution (AutoFormer's defaults)")
    g.add_argument("--population", type=positive_int, default=50)
    g.add_argument("--generations", type=positive_int, default=20)
    g.add_argument(
        "--parents", type=positive_int, default=None, help="top candidates kept as parents (default: population / 5)"
    )
    g.add_argument("--mutations", type=int, default=None, help="per generation (default: population / 2)")
    g.add_argument("--crossovers", type=int, default=None, help="per generation (default: population / 2)")
    g.add_argument("--seed", type=seed, default=0)
    g = p.add_argument_group("run")
    p.add_argument(
        "--space",
        metavar="SPACE",
        default=None,
        help="preset or AutoFormer YAML (default: the checkpoint's space, else mnist-cpu)",
    )
    p.add_argument("--checkpoint", metavar="CKPT", help="supernet checkpoint (default: supernet.pt of the run folder)")
    g.add_argument(
        "--max-measured",
        type=positive_int,
        default=5,
        help="candidates re-measured at most when the best ones miss a budget (default 5)",
    )
    g.add_argument("--no-measure", action="store_true", help="skip re-measuring (predicted latency only)")
    g.add_argument("--no-onnx", action="store_true", help="write no winner.onnx")
    g.add_argument(
        "--fit-missing",
        action="store_true",
        help="profile and fit a predictor for a device that has none, before searching",
    )
    g.add_argument(
        "--fit-n", type=positive_int, default=200, metavar="N", help="subnets profiled by --fit-missing (default 200)"
    )
    g.add_argument("--json", action="store_true", help="print the report as JSON")
    add_agent_options(p)  # --agent URL: the winner re-measured on the agent(s)
    add_workdir(p)


def budgets_of(args: argparse.Namespace) -> list[tuple[str, float | None]]:
    """(device, budget) pairs from --latency-ms/--device pairs and --budget."""
    defined = devices_of(args)
    if args.latency_ms and len(args.latency_ms) != len(args.device):
        raise ConfigError(
            f"pair each --latency-ms with a --device, in order: got {len(args.latency_ms)} "
            f"budget(s) and {len(args.device)} device(s) (or write --budget DEVICE=MS)"
        )
    pairs = list(zip(args.device, args.latency_ms or [None] * len(args.device))) + list(args.budget)
    if args.precisions:
        if len(pairs) != 1:
            raise ConfigError(f"--precisions needs exactly one device and its budget, got {len(pairs)}")
        from hwnas.pipelines.search_inputs import precision_forms

        pairs = [(form, pairs[0][1]) for form in precision_forms(pairs[0][0], args.precisions, defined)]
    names = [d for d, _ in pairs]
    if len(set(names)) != len(names):
        raise ConfigError(f"each device may appear once, got {names}")
    for d in names:
        defined.get(d)  # unknown names: one line listing the known ones
    return pairs


def settings_of(args: argparse.Namespace) -> EvolutionSettings:
    from hwnas.pipelines.search_inputs import evolution_settings

    return evolution_settings(args.population, args.generations, args.parents, args.mutations, args.crossovers)


def generation_reporter(total: int, label: str) -> Callable[[GenerationStats], None]:
    """A callback per generation: a tqdm bar on a terminal, a plain line per generation otherwise."""
    bars: list[Progress] = []  # made at the first generation: no empty bar when the search is refused

    def on_gen(s: GenerationStats) -> None:
        if not bars:
            bars.append(Progress(total, "search", unit="gen", every=1))
        bar = bars[0]
        best = f"{s.best_fitness:.1f}" if label == "top-1" else f"{s.best_fitness:.4g}"  # 95.0, not 95
        bar.step(
            f"best {label} {best}, {s.evaluated} scored",
            line=f"generation {s.generation + 1}/{total}: best {label} {best} ({s.best_key}), "
            f"{s.evaluated} scored, {s.rejected} rejected",
        )
        if s.generation == total - 1:
            bar.close()

    return on_gen


def run(args: argparse.Namespace) -> int:
    from hwnas.pipelines.search import SearchOptions, checkpoint_for, search
    from hwnas.supernet.resolve import resolve_space

    rd = workdir(args)
    budgets = budgets_of(args)
    opts = SearchOptions(
        budgets=budgets,
        params_m=args.params_m,
        macs_m=args.macs_m,
        objective=args.objective,
        data=args.data,
        subset=args.subset,
        seed=args.seed,
        settings=settings_of(args),
        pareto=args.pareto,
        margin=args.margin,
        max_measured=args.max_measured,
        measure=not args.no_measure,
        export=not args.no_onnx,
        tie_tolerance=args.tie_tolerance,
        precision=args.precision,
        forms={d: (args.device or [args.budget[0][0]])[0] for d, _ in budgets} if args.precisions else {},
    )
    measurers = route_agents(args, [d for d, _ in opts.budgets])
    ckpt = checkpoint_for(rd, args.checkpoint, args.objective)
    space = resolve_space(args.space, None, ckpt)
    assert space is not None  # with default=True, the default preset at worst
    devices = devices_of(args)

    def run_search(fit_missing: Callable[[str], None] | None = None) -> SearchReport:
        return search(
            rd,
            space,
            opts,
            checkpoint=ckpt,
            on_generation=reporter_for(opts),
            fit_missing=fit_missing,
            log=log,
            measurers=measurers,
            devices=devices,
        )

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by torchrun: score in parallel, rank 0 reports
        if args.fit_missing:
            raise ConfigError("--fit-missing does not run under torchrun: profile and fit first, then search")
        from hwnas.supernet.distributed import torchrun_group

        with torchrun_group() as info:
            report = run_search()
        if not info.is_main:
            return 0
    else:
        report = run_search(fitter(rd, space, args.fit_n, devices) if args.fit_missing else None)
    if args.json:
        print_json(report)
    else:
        print(render(report))
    return 0 if report.winner is not None else 1


def reporter_for(opts: SearchOptions) -> Callable[[GenerationStats], None]:
    label = "top-1" if opts.objective == "accuracy" else "params (M)"
    return generation_reporter(opts.settings.generations, label)


def fitter(rd: RunDir, space: SearchSpace, n: int, devices: Devices) -> Callable[[str], None]:
    """--fit-missing: profile ``n`` subnets of a device with no predictor, then fit one."""
    from hwnas.pipelines.search import fit_missing_predictor

    def fit(device: str) -> None:
        log(f"no predictor for {device}: profiling {n} subnets, then fitting")
        with Progress(n, f"profile {device}", unit="subnet") as bar:
            path = fit_missing_predictor(
                rd, space, devices.get(device), n, progress=lambda rec, done, total: bar.step()
            )
        log(f"fitted {path}")

    return fit


def render(report: SearchReport) -> str:
    """The search for people: the front (Pareto mode), verification, the winner and the files."""
    lines = []
    if report.front:
        lines += [
            f"Pareto front ({len(report.front)} subnets, predicted latency):",
            table(report.front, list(report.front[0])),
            "",
        ]
    w = report.winner
    lines.append(f"verification: {report.verification_note}")
    if w is None:
        lines.append(f"no winner written; see {report.files['report_md']}")
        return "\n".join(lines)
    rows = [{"device": d, **m.to_dict()} for d, m in w.latency.items()]
    if rows:
        lines.append(table(rows, ["device", "budget_ms", "predicted_ms", "measured_ms", "typical_ms", "within_budget"]))
    if report.accuracy.get("note"):
        lines.append(f"accuracy: {report.accuracy['note']}")
    if report.deployed.get("note"):
        lines.append(f"deployed: {report.deployed['note']}")
    shipped = report.deployed.get("winner")
    if shipped:
        lines.append(
            f"as it ships ({shipped['device']}, {shipped['precision']}): test top-1 "
            f"{shipped['deployed_test_top1']:.2f} % against {shipped['fp32_test_top1']:.2f} % in FP32"
        )
    val = "-" if w.val_top1 is None else f"{w.val_top1:.2f} %"
    test = "-" if w.test_top1 is None else f"{w.test_top1:.2f} %"
    scores = f" ({report.precision} scores)" if report.precision else ""
    lines.append(
        f"winner  {w.key}  {w.params / 1e6:.3f} M params, {w.macs / 1e6:.1f} M MACs, "
        f"val top-1 {val}, test top-1 {test}{scores}"
    )
    lines += [f"  {name:12s} {path}" for name, path in report.files.items()]
    return "\n".join(lines)
