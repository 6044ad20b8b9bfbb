"""Export time of static subnets, their ONNX Runtime latency, and ONNX Runtime / torch eager latency
for the same subnet (batch 1, one thread each, timed interleaved in one process).

    python benchmarks/export_latency.py [--space mnist-cpu] [-n 5] [--runs 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from record import Table, save

from hwnas.core import count_macs, get_space
from hwnas.supernet import Supernet, export_onnx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--space", default="mnist-cpu")
    ap.add_argument("-n", type=int, default=5, help="subnets besides the smallest and largest")
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    space = get_space(args.space)
    torch.manual_seed(0)
    net = Supernet(space).eval()
    cfgs = [space.min_config(), space.max_config()] + space.sample_unique(args.n, np.random.default_rng(0))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    print(f"{'subnet':34} {'GMACs':>6} {'export s':>8} {'ORT p10 ms':>10} {'torch p10 ms':>12} {'ORT/torch':>9}")
    table = Table(
        f"Export time and latency, {space.name}, batch 1, one thread each, p10 of {args.runs} interleaved runs",
        ["subnet", "GMACs", "export s", "ORT p10 ms", "torch p10 ms", "ORT/torch"],
    )
    ratios = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for cfg in cfgs:
            static = net.extract(cfg).eval()
            t = time.perf_counter()
            path = export_onnx(static, Path(tmp) / "m.onnx")
            export_s = time.perf_counter() - t
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            x = torch.randn(1, space.in_chans, space.img_size, space.img_size)
            feed = {"image": x.numpy()}
            for _ in range(20):
                sess.run(None, feed), static(x)
            o, e = [], []
            for _ in range(args.runs):
                t = time.perf_counter_ns()
                sess.run(None, feed)
                o.append(time.perf_counter_ns() - t)
                t = time.perf_counter_ns()
                static(x)
                e.append(time.perf_counter_ns() - t)
            po, pe = np.percentile(o, 10) / 1e6, np.percentile(e, 10) / 1e6
            ratios.append(po / pe)
            print(
                f"{cfg.key()[:34]:34} {count_macs(space, cfg) / 1e9:6.3f} {export_s:8.2f} {po:10.3f} "
                f"{pe:12.3f} {po / pe:9.2f}"
            )
            table.add(
                cfg.key(),
                f"{count_macs(space, cfg) / 1e9:.3f}",
                f"{export_s:.2f}",
                f"{po:.3f}",
                f"{pe:.3f}",
                f"{po / pe:.2f}",
            )
    summary = f"median ORT/torch eager latency ratio: {np.median(ratios):.2f}"
    print(summary)
    save(__file__, [table], [summary])


if __name__ == "__main__":
    main()
