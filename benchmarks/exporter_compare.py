"""The two ONNX exporters side by side on the same subnets: export time, the guarantees
(logits to 1e-4 against the static module, no weight sliced at run time, opset), and ONNX Runtime
latency of both graphs timed interleaved in one process (one thread each, p10 of --runs runs).

Run it on a quiet machine; the ratios are dynamo / TorchScript (below 1: the dynamo graph is faster).

    python benchmarks/exporter_compare.py [--space mnist-cpu] [-n 8] [--runs 500] [--dynamic-batch]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from record import Notes, Table, save

from hwnas.core import count_macs, get_space
from hwnas.devices.host import cpu_model
from hwnas.supernet import Supernet, export_onnx
from hwnas.supernet.export import EXPORTERS, INPUT_NAME, weight_slicing_nodes


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def interleaved_p10(sessions: list[ort.InferenceSession], feed: dict, runs: int, warmup: int) -> list[float]:
    """p10 run time (ms) of each session, the sessions taking turns run by run (order alternating)."""
    times: list[list[int]] = [[] for _ in sessions]
    for _ in range(warmup):
        for s in sessions:
            s.run(None, feed)
    for i in range(runs):
        order = range(len(sessions)) if i % 2 == 0 else reversed(range(len(sessions)))
        for j in order:
            t = time.perf_counter_ns()
            sessions[j].run(None, feed)
            times[j].append(time.perf_counter_ns() - t)
    return [float(np.percentile(t, 10)) / 1e6 for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="mnist-cpu")
    ap.add_argument("-n", type=int, default=8, help="subnets in all: the smallest, the largest, then random ones")
    ap.add_argument("--runs", type=int, default=500, help="timed runs per graph and subnet")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--dynamic-batch", action="store_true", help="export with a dynamic batch axis")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    space = get_space(args.space)
    torch.manual_seed(args.seed)
    net = Supernet(space).eval()
    cfgs = (
        [space.min_config(), space.max_config()]
        + space.sample_unique(max(0, args.n - 2), np.random.default_rng(args.seed))
    )[: args.n]
    print(
        f"CPU: {cpu_model()}  |  torch {torch.__version__}  onnxruntime {ort.__version__}  |  space {space.name}, "
        f"{len(cfgs)} subnets, {args.runs} interleaved runs each, 1 thread, batch 1"
    )
    print(
        f"{'subnet':36} {'GMACs':>6} {'ts exp s':>8} {'dy exp s':>8} {'ts ms':>8} {'dy ms':>8} {'lat dy/ts':>9} "
        f"{'max|dlogit|':>11}"
    )
    table = Table(
        f"TorchScript (ts) and dynamo (dy) exporters, {space.name}: export s, ORT p10 ms of {args.runs} interleaved "
        "runs (1 thread, batch 1), dynamo / TorchScript latency, largest logit difference",
        ["subnet", "GMACs", "ts export s", "dy export s", "ts ms", "dy ms", "latency dy/ts", "max |dlogit|"],
    )
    export_ratios, latency_ratios, problems = [], [], []
    x = torch.randn(1, space.in_chans, space.img_size, space.img_size, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for i, cfg in enumerate(cfgs):
            static = net.extract(cfg).eval()
            ref = static(x).numpy()
            paths, secs = {}, {}
            for ex in EXPORTERS if i % 2 == 0 else EXPORTERS[::-1]:  # alternate which one goes first
                t = time.perf_counter()
                paths[ex] = export_onnx(static, Path(tmp) / f"{ex}.onnx", dynamic_batch=args.dynamic_batch, exporter=ex)
                secs[ex] = time.perf_counter() - t
            sessions = [session(paths[ex]) for ex in EXPORTERS]
            diff = 0.0
            for ex, s in zip(EXPORTERS, sessions):
                proto = onnx.load(paths[ex])
                diff = max(diff, float(np.abs(s.run(None, {INPUT_NAME: x.numpy()})[0] - ref).max()))
                if weight_slicing_nodes(proto):
                    problems.append(f"{cfg.key()} {ex}: slices weights {weight_slicing_nodes(proto)[:3]}")
            if diff > 1e-4:
                problems.append(f"{cfg.key()}: logits differ by {diff:.2e}")
            ts_ms, dy_ms = interleaved_p10(sessions, {INPUT_NAME: x.numpy()}, args.runs, args.warmup)
            export_ratios.append(secs["dynamo"] / secs["torchscript"])
            latency_ratios.append(dy_ms / ts_ms)
            print(
                f"{cfg.key()[:36]:36} {count_macs(space, cfg) / 1e9:6.3f} {secs['torchscript']:8.2f} "
                f"{secs['dynamo']:8.2f} {ts_ms:8.3f} {dy_ms:8.3f} {dy_ms / ts_ms:9.3f} {diff:11.1e}",
                flush=True,
            )
            table.add(
                cfg.key(),
                f"{count_macs(space, cfg) / 1e9:.3f}",
                f"{secs['torchscript']:.2f}",
                f"{secs['dynamo']:.2f}",
                f"{ts_ms:.3f}",
                f"{dy_ms:.3f}",
                f"{dy_ms / ts_ms:.3f}",
                f"{diff:.1e}",
            )
    notes = Notes()
    notes.say(f"median export time ratio dynamo / TorchScript: {np.median(export_ratios):.2f}")
    notes.say(
        f"median ORT latency ratio dynamo / TorchScript: {np.median(latency_ratios):.3f} "
        f"(min {min(latency_ratios):.3f}, max {max(latency_ratios):.3f})"
    )
    notes.say("guarantees: " + ("all held" if not problems else "; ".join(problems)))
    save(__file__, [table], notes)


if __name__ == "__main__":
    main()
