"""Measure the latency of subnets of a space on a device and store every measurement.

Profiles the first N subnets of a seeded plan (smallest, largest, every choice of every dimension,
then uniform samples) that the store does not hold yet: run it again after a crash or Ctrl-C and it
measures only what is missing; a larger -n adds more. Each record is committed as soon as it is
measured. A subnet that cannot be exported or run is stored as 'failed' with the reason.
Every subnet is measured in three visits, each in another batch of 16 (--visits, --batch), and up to
a fifth while no visit confirms the median: on a shared machine one visit's figure moves by 2-4 %
with the host's speed, which only more visits average out. Each measurement is kept, a subnet's label
is the median of its visits, and 'hwnas fit' reports how far two visits of one subnet disagree. With
--visits 2, a third visit goes to subnets whose two disagree by more than 3 % or whose label a model of
the others finds far off. With --visits 1 (about 1.5x faster), only 10 % of N (at least 8, --retest K
more) are measured twice; --no-retest measures each subnet once.

With -n auto it measures in rounds of 5 actively chosen subnets (those that pin the predictor best) until
the predictor's cross-validated accuracy reaches --goal (default: 90 % of subnets within ±5 %), transferring
from another device or space of this machine (any store of the run folder, or --from FILE) while it can, and
prints how many subnets that took (at most --max-n).

examples:
  hwnas profile --device cpu -n 200
  hwnas profile --device cpu -n 200 --visits 1 --retest 40   # quicker: 60 of the 200 measured twice
  hwnas profile --device cpu --space autoformer-tiny -n 50 --db tiny.db
  hwnas profile --device cpu --space autoformer-tiny -n auto    # stores of other devices of this space help
  hwnas profile --device gpu-trt --space autoformer-tiny -n 500 --workdir runs/tiny
  hwnas profile --devices my-devices.toml --device cpu-2t-b4 -n 200
  hwnas profile --device cpu -n 200 --agent http://pi4:7700 --agent http://pi4b:7700 --token-file token.txt
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from hwnas.cli.agent_cmd import add_agent_options, measurers_of
from hwnas.cli.common import add_space, add_workdir, positive_float, positive_int, seed, space_of, workdir
from hwnas.cli.devices_cmd import add_devices_option, devices_of
from hwnas.present import Progress, text_table
from hwnas.profiling.record import LatencyRecord

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from hwnas.core.space import SearchSpace
    from hwnas.devices import Device
    from hwnas.pipelines.profile import ProfileSummary

HELP = "measure subnet latencies on a device into the latency store"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hwnas.devices import builtin_names
    from hwnas.profiling.protocol import DEFAULT_BATCH

    p.add_argument(
        "--device",
        required=True,
        metavar="DEVICE",
        help=f"one of: {', '.join(builtin_names())}, or a device of the devices file",
    )
    add_devices_option(p)
    add_space(p)
    p.add_argument(
        "-n", type=_n, required=True, metavar="N", help="subnets in the plan, or 'auto': until the predictor is good"
    )
    p.add_argument(
        "--goal", type=_share, default=0.9, metavar="SHARE", help="-n auto: cross-validated share within ±5 %% (0.9)"
    )
    p.add_argument("--max-n", type=positive_int, default=200, metavar="N", help="-n auto: most subnets (200)")
    p.add_argument(
        "--from", dest="sources", action="append", default=[], metavar="FILE", help="-n auto: store to transfer from"
    )
    p.add_argument("--db", metavar="FILE", help="latency store (default: latency.db in the run folder)")
    p.add_argument("--checkpoint", metavar="CKPT", help="supernet checkpoint (weights do not change latency)")
    p.add_argument("--seed", type=seed, default=0, help="sampling seed (default 0)")
    p.add_argument(
        "--batch", type=positive_int, default=DEFAULT_BATCH, help=f"subnets measured together (default {DEFAULT_BATCH})"
    )
    p.add_argument(
        "--visits",
        type=positive_int,
        default=None,
        metavar="V",
        help="visits of every subnet, each in another batch (default 3; with 2, a third where they disagree), "
        "on the local device or the agents alike",
    )
    rt = p.add_mutually_exclusive_group()
    rt.add_argument(
        "--retest",
        type=_count,
        default=0,
        metavar="K",
        help="with --visits 1: re-measure K more subnets in later batches than 10 %% of N (at least 8)",
    )
    rt.add_argument(
        "--no-retest", action="store_true", help="measure each subnet once (the store then knows no retest noise)"
    )
    add_agent_options(p)
    add_workdir(p)


def _n(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


def _share(text: str) -> float:
    v = positive_float(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"a share from 0 to 1, got {v}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return v


class Reporter:
    """Progress callback of the profiling pipeline: a bar (done, ETA, last latency) on a terminal, one
    plain line per record otherwise. Made at the first record, so nothing shows when nothing is measured."""

    def __init__(self, desc: str) -> None:
        self.desc, self.t0 = desc, time.perf_counter()
        self.bar: Progress | None = None

    def __call__(self, rec: LatencyRecord, done: int, total: int) -> None:
        last = f"{rec.latency_ms:.3f} ms" if rec.ok else "failed"
        if self.bar is None:
            self.bar = Progress(total, self.desc, unit="subnet", every=1, initial=done - 1)
        eta = (time.perf_counter() - self.t0) / done * (total - done)
        self.bar.step(f"last {last}", line=f"{self.desc} {done}/{total}  {rec.key}  {last}  ETA {eta:.0f}s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def render(s: ProfileSummary) -> str:
    """The summary of a profiling run: counts, rate, latency range, where the time went, failures."""
    lines = [
        f"device {s.device}  space {s.space}  planned {s.planned}  already stored {s.skipped}",
        f"measured {len(s.records)} ({s.ok} ok, {s.failed} failed; {s.retested} of them retests of subnets "
        f"measured before) in {s.elapsed_s:.1f} s = {s.per_minute():.1f} subnets/min, all visits included"
        + ("  [interrupted: committed records are kept]" if s.interrupted else ""),
    ]
    lat = sorted(r.latency_ms for r in s.records if r.ok)
    if lat:
        spreads = sorted(r.spread for r in s.records if r.ok)
        lines.append(
            f"latency ms: min {lat[0]:.3f}  median {lat[len(lat) // 2]:.3f}  max {lat[-1]:.3f}   "
            f"spread median {spreads[len(spreads) // 2]:.3f}"
        )
    tot = sum(s.seconds.values()) or 1.0
    spent = {k: v for k, v in s.seconds.items() if v or k != "quantize"}  # quantize: INT8 devices only
    lines.append("time: " + "  ".join(f"{k} {v:.1f}s ({100 * v / tot:.0f}%)" for k, v in spent.items()))
    failed = [(r.key, r.reason or "") for r in s.records if not r.ok]
    if failed:
        lines.append(text_table(["failed subnet", "reason"], failed))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hwnas.pipelines.profile import profile_space
    from hwnas.profiling.visits import VISITS

    device = devices_of(args).get(args.device)
    measurers = measurers_of(args)  # None of them: this machine
    space = space_of(args)
    db = args.db or workdir(args).ensure().store
    rep = Reporter(device.name)
    if args.n == "auto":
        return _auto(args, space, device, measurers, db, rep)
    try:
        s = profile_space(
            space,
            device,
            args.n,
            db,
            measurers=measurers,
            seed=args.seed,
            checkpoint=args.checkpoint,
            batch=args.batch,
            progress=rep,
            log=lambda line: print(f"hwnas profile: {line}", file=sys.stderr, flush=True),
            retest=None if args.no_retest else args.retest,
            visits=args.visits or VISITS,
        )
    finally:
        rep.close()
    print(render(s))
    print(f"store: {db}")
    return 130 if s.interrupted else 0


def _auto(
    args: argparse.Namespace, space: SearchSpace, device: Device, measurers: Any, db: str | Path, rep: Reporter
) -> int:
    """-n auto: rounds of actively chosen subnets until the fit's cross-validated accuracy is reached."""
    from hwnas.pipelines.fit_transfer import stores_of
    from hwnas.pipelines.profile_auto import profile_until
    from hwnas.profiling.visits import VISITS

    sources = stores_of(db, workdir(args).root, args.sources)
    try:
        a = profile_until(
            space,
            device,
            db,
            sources=sources,
            goal=args.goal,
            max_n=args.max_n,
            measurers=measurers,
            seed=args.seed,
            checkpoint=args.checkpoint,
            batch=args.batch,
            progress=rep,
            retest=None if args.no_retest else args.retest,
            visits=args.visits or VISITS,
            log=lambda line: print(f"hwnas profile: {line}", file=sys.stderr, flush=True),
        )
    finally:
        rep.close()
    last = a.rounds[-1]
    verdict = "reached" if a.reached else "did not reach"
    print(
        f"{verdict} {a.goal:.0%} within ±{a.within:.0%} (cross-validated) with {a.labels} measured subnets of "
        f"{device.name} / {space.name} ({a.measured} new in this run, {len(a.profiled)} rounds, "
        f"{a.elapsed_s:.0f} s); fit: {last.method}"
    )
    for line in a.skipped:
        print(line)
    print(f"store: {db}\nnext: hwnas fit --device {device.name} --space {space.name}")
    return 130 if a.interrupted else 0
