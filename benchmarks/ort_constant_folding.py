"""Does ONNX Runtime's constant folding of the relative-position lookups change latency?

At session creation ONNX Runtime folds every constant subgraph; in an AutoFormer subnet that includes
each layer's relative-position lookups (a Gather of constant token-pair indices from a small table), so
every session stores (tokens, tokens, head_dim) tables instead of the small ones. This script measures,
for N subnets of a space, side by side in one process: the session's creation time and resident memory,
and its latency (1 thread, thread CPU time, p10 of runs; the two sessions of a subnet alternate in blocks),
with all graph optimisations (what ships) and with all but constant folding
(``disabled_optimizers=["ConstantFolding"]``).

    python benchmarks/ort_constant_folding.py [--space autoformer-tiny] [-n 6] [--rounds 8]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
from record import Table, save

from hwnas.core import presets
from hwnas.devices import get
from hwnas.devices.host import cpu_model
from hwnas.profiling.backends.ort import session_options
from hwnas.profiling.heap import keep_large_blocks_unmapped
from hwnas.profiling.protocol import resident_bytes
from hwnas.supernet.export import export_onnx
from hwnas.supernet.standalone import build_static

VARIANTS = {"folded (shipped)": [], "unfolded": ["ConstantFolding"]}


def open_session(path: Path, disabled: list[str]):  # noqa: ANN201
    import onnxruntime as ort

    gc.collect()
    rss0, t0 = resident_bytes(), time.perf_counter()
    s = ort.InferenceSession(
        str(path), session_options(get("cpu")), providers=["CPUExecutionProvider"], disabled_optimizers=disabled
    )
    setup = time.perf_counter() - t0
    x = np.random.default_rng(0).standard_normal(s.get_inputs()[0].shape).astype(np.float32)
    b = s.io_binding()
    b.bind_cpu_input(s.get_inputs()[0].name, x)
    b.bind_output(s.get_outputs()[0].name)
    s.run_with_iobinding(b)
    return s, b, setup, (resident_bytes() - rss0) / 2**20


def runs(session, binding, k: int) -> list[float]:  # noqa: ANN001
    out = []
    for _ in range(k):
        t0 = time.thread_time_ns()
        session.run_with_iobinding(binding)
        out.append((time.thread_time_ns() - t0) / 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="autoformer-tiny")
    ap.add_argument("-n", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--block", type=int, default=2, help="runs per block")
    a = ap.parse_args()
    keep_large_blocks_unmapped()
    space = presets.get(a.space)
    cfgs = [space.min_config(), space.max_config(), *space.sample_unique(a.n - 2, np.random.default_rng(3))]
    print(f"{cpu_model()}; {a.space}, {len(cfgs)} subnets; {a.rounds} rounds of {a.block} runs per variant", flush=True)
    table = Table(
        f"Constant folding on or off, {a.space} on 1 CPU thread (ONNX Runtime)",
        ["subnet", "variant", "setup s", "session MiB", "p10 ms", "median ms", "p10 ratio"],
    )
    ratios, setups, mems = [], {v: [] for v in VARIANTS}, {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for i, cfg in enumerate(cfgs):
            path = export_onnx(build_static(space, cfg), Path(tmp) / f"{i}.onnx")
            sess = {v: open_session(path, d) for v, d in VARIANTS.items()}
            times: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for r in range(a.rounds):  # alternate which goes first
                for v in list(VARIANTS)[:: 1 if r % 2 == 0 else -1]:
                    times[v] += runs(sess[v][0], sess[v][1], a.block)
            base = float(np.percentile(times["folded (shipped)"], 10))
            for v in VARIANTS:
                p10 = float(np.percentile(times[v], 10))
                setups[v].append(sess[v][2])
                mems[v].append(sess[v][3])
                row = [cfg.key()[:24], v, round(sess[v][2], 2), round(sess[v][3]), round(p10, 2)]
                table.add(*row, round(float(np.median(times[v])), 2), round(p10 / base, 3))
                print("  ".join(str(c) for c in table.rows[-1]), flush=True)
            ratios.append(float(np.percentile(times["unfolded"], 10)) / base)
            del sess
    summary = Table("Summary", ["figure", "folded (shipped)", "unfolded"])
    summary.add("median setup s", *[round(float(np.median(setups[v])), 2) for v in VARIANTS])
    summary.add("median session MiB", *[round(float(np.median(mems[v]))) for v in VARIANTS])
    summary.add("p10 latency ratio unfolded / folded: median, min, max", "1", _spread(ratios))
    for row in summary.rows:
        print(*row, sep="  ")
    save(__file__, [table, summary])


def _spread(r: list[float]) -> str:
    return f"{np.median(r):.3f} ({min(r):.3f}-{max(r):.3f})"


if __name__ == "__main__":
    main()
