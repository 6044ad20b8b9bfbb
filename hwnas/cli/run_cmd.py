"""The whole job in one command: train the supernet, profile it on a device, fit the latency
predictor, search under a latency budget, re-measure and export the winner.

Each step is the subcommand of the same name, run with the same run folder, so a step that is
interrupted can be resumed alone, or by running this again: a trained supernet and the stored
measurements are reused, not redone; the fit and the search are redone (they take about a minute). Without --latency-ms the budget is
the 40th percentile of the measured latencies, so that it binds on this machine.

examples:
  hwnas run                                    # bundled MNIST, mnist-cpu, cpu, ./hwnas-run
  hwnas run --latency-ms 2.5 --workdir runs/a
  hwnas run --epochs 1 -n 24 --population 6 --generations 2 --subset 100   # a one-minute smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from hwnas.cli.common import add_space, add_workdir, positive_float, positive_int, workdir
from hwnas.cli.devices_cmd import add_devices_option

HELP = "the whole pipeline: train, profile, fit, search, re-measure, export"
BUDGET_QUANTILE = 0.4


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_space(p)
    p.add_argument("--device", default="cpu", metavar="DEVICE", help="device to profile and search for (default cpu)")
    add_devices_option(p)
    p.add_argument("--latency-ms", type=positive_float, default=None, metavar="MS",
                   help=f"latency budget (default: the {BUDGET_QUANTILE * 100:.0f}th percentile of the measured latencies)")
    p.add_argument("--data", default="mnist", metavar="mnist|DIR", help="training / validation data (default mnist)")
    p.add_argument("--epochs", type=positive_int, default=12, help="supernet training epochs (default 12)")
    p.add_argument("-n", type=positive_int, default=100, metavar="N", help="subnets to profile (default 100)")
    p.add_argument("--population", type=positive_int, default=20, help="search population (default 20)")
    p.add_argument("--generations", type=positive_int, default=8, help="search generations (default 8)")
    p.add_argument("--subset", type=positive_int, default=None, metavar="N",
                   help="validation images scored per candidate (default: all)")
    p.add_argument("--seed", type=int, default=0)
    add_workdir(p)


def _step(title: str, argv: list[str]) -> None:
    from hwnas.cli.main import build_parser

    print(f"\n== {title}: hwnas {' '.join(argv)}", file=sys.stderr, flush=True)
    args = build_parser().parse_args(argv)
    code = args._run(args)
    if code:
        raise SystemExit(code)


def _auto_budget(store: str, device: str, space_digest: str) -> float:
    from hwnas.profiling.store import LatencyStore

    df = LatencyStore(store).to_dataframe(device=device, space_digest=space_digest)
    ok = df[df["status"] == "ok"]["latency_ms"]
    return round(float(ok.quantile(BUDGET_QUANTILE)), 2)


def run(args: argparse.Namespace) -> int:
    from hwnas.cli.common import space_of
    from hwnas.devices import get
    from hwnas.profiling.backends import require_available

    rd = workdir(args).ensure()
    space = space_of(args)
    require_available(get(args.device))  # fail before training, not after
    common = ["--workdir", str(rd.root)]
    t0, times = time.perf_counter(), {}

    t = time.perf_counter()
    if rd.supernet.is_file():
        print(f"\n== train: reusing {rd.supernet} (delete it to retrain)", file=sys.stderr)
    else:
        _step("1/4 train", ["train", "--space", args.space, "--data", args.data, "--seed", str(args.seed),
                            "--epochs", str(args.epochs), *common])
    times["train"] = time.perf_counter() - t

    t = time.perf_counter()
    _step("2/4 profile", ["profile", "--device", args.device, "--space", args.space, "-n", str(args.n),
                          "--seed", str(args.seed), *common])
    times["profile"] = time.perf_counter() - t

    t = time.perf_counter()
    _step("3/4 fit", ["fit", "--device", args.device, "--space", args.space, "--seed", str(args.seed), *common])
    times["fit"] = time.perf_counter() - t

    budget = args.latency_ms or _auto_budget(str(rd.store), args.device, space.digest())
    t = time.perf_counter()
    _step("4/4 search", ["search", "--latency-ms", str(budget), "--device", args.device, "--space", args.space,
                         "--data", args.data, "--population", str(args.population),
                         "--generations", str(args.generations), "--seed", str(args.seed), *common]
          + (["--subset", str(args.subset)] if args.subset else []))
    times["search + verify + export"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    _summary(rd, args.device, budget, times)
    return 0


def _summary(rd: Any, device: str, budget: float, times: dict[str, float]) -> None:
    report = json.loads((rd.search / "report.json").read_text())
    predictor = json.loads(rd.predictor(device).read_text())
    meta = predictor.get("metadata", predictor)
    w = report.get("winner") or {}
    lat = (w.get("latency") or {}).get(device, {})
    rows = [
        ("winner", w.get("key", "none")),
        ("validation top-1", _pct(w.get("val_top1"))), ("test top-1", _pct(w.get("test_top1"))),
        ("params / MACs", f"{w.get('params', 0) / 1e6:.3f} M / {w.get('macs', 0) / 1e6:.1f} M"),
        (f"{device} budget", f"{budget:.3f} ms"),
        (f"{device} predicted", _ms(lat.get("predicted_ms"))), (f"{device} measured", _ms(lat.get("measured_ms"))),
        ("verification", report.get("verification_note", "")),
        ("predictor", str(meta.get("family", meta.get("family_", "?")))),
    ]
    rows += [(f"time {k}", f"{v:.0f} s") for k, v in times.items()]
    files = report.get("files", {})
    rows += [("ONNX", files.get("winner_onnx", "-")), ("subnet YAML", files.get("winner_yaml", "-")),
             ("report", files.get("report_md", "-")), ("Pareto front", files.get("pareto_png", "-")),
             ("predicted vs measured", str(rd.predictor(device).with_suffix(".png")))]
    width = max(len(k) for k, _ in rows)
    print("\n" + "\n".join(f"{k:<{width}}  {v}" for k, v in rows))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} %"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f} ms"
